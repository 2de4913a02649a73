# agent/ network code: TLS (OpenSSL), IMAP and SMTP clients (libetpan).
