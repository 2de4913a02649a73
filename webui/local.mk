# webui/: libmicrohttpd handlers over the log. Never talks IMAP or SMTP.
