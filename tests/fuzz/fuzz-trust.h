/*
 * fuzz-trust.h - the trust the verification harnesses (fuzz_verify,
 * fuzz_cms) verify against: the public root and sub-CA certificates of the
 * throw-away test PKI (tests/pki/mkpki) that signed the seed corpora in
 * tests/fuzz/corpus/verify and tests/fuzz/corpus/cms.  Its private keys
 * were deleted after the seeds were made; these certificates are public.
 * With them, mutated seeds reach every check after the chain (sender, time,
 * revocation, coverage), not just "untrusted".  FUZZ_AT is a time inside
 * the seeds' validity.
 */
#ifndef KYSO_FUZZ_TRUST_H
#define KYSO_FUZZ_TRUST_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "smime/smime.h"

#define FUZZ_AT 1795951453

static const char fuzz_anchor_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDxzCCAq+gAwIBAgIUTlnF0P94/KK4Vw3up8SGkfKX8xYwDQYJKoZIhvcNAQEL\n"
	"BQAwazELMAkGA1UEBhMCVk4xIzAhBgNVBAoMGkJhbiBDxqEgeeG6v3UgQ2jDrW5o\n"
	"IHBo4bunMTcwNQYDVQQDDC5DQSBjaHV5w6puIGTDuW5nIENow61uaCBwaOG7pyAo\n"
	"dGjhu60gbmdoaeG7h20pMB4XDTE2MTIwMTEwMjMzNVoXDTQ2MTEyNDEwMjMzNVow\n"
	"azELMAkGA1UEBhMCVk4xIzAhBgNVBAoMGkJhbiBDxqEgeeG6v3UgQ2jDrW5oIHBo\n"
	"4bunMTcwNQYDVQQDDC5DQSBjaHV5w6puIGTDuW5nIENow61uaCBwaOG7pyAodGjh\n"
	"u60gbmdoaeG7h20pMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5zne\n"
	"pRZ0LxPONNC3HS2z3gLvtkkZHcXSURxati7aatsy2NjUostpblLK8HBy1M14WG1a\n"
	"5/Bnm9pnztPVsO2vqTfCeRjcnEPokGz1eSEKuVAaEnSj7O/nmzMAbzwiaRzA2G5E\n"
	"jVywLTijoVxQe//HPGijj3AGNgeawkx87wZE0vhAVFbMt5GYnjlApv9h6sPOMuOG\n"
	"bB6BNUiv0mjhbxfOl4kGviZO8SS+3g8+JX5+5wz9qrbCvY3F4evgK5d0LPjPfcCA\n"
	"G57ca7+LTPmuS32NufoMc147veReYKuRPUcjpl3uJK+u39Rkha6FefEybEIUGUP+\n"
	"ump+QFXQbQvEywXeBQIDAQABo2MwYTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB\n"
	"/wQEAwIBBjAdBgNVHQ4EFgQUDyqSGmEeQQZJz2Rv1kkLcpWGcUQwHwYDVR0jBBgw\n"
	"FoAUDyqSGmEeQQZJz2Rv1kkLcpWGcUQwDQYJKoZIhvcNAQELBQADggEBAD4ErOg6\n"
	"S4zwTqlzbGQfvluyUis3iay9Lcz7CgGiU1GWZ5nBghFxhsbXlhaIdUJNZrQmCg+Q\n"
	"yNUUq3rdsUZlGicJzcjURyr7uEMOZsU3DxN0Yc7KJifksunBAvploKFeaDiPeqZs\n"
	"AxXLJ8UZcAuTEaRPraBUN81sF5s6S8vrs45GDI4v5jy45lZ1IZUu6jAYdlDcogwR\n"
	"D9EvsJdpHIuc2MHE9II2vV2FRYy+xNsmyjuJX9D1IOvkrCNHuD7dpgD+WcaJcUCx\n"
	"4ytX0Jp0ViTx6eEd7p/SKEmsluNcVCL5wTZO28UG83FQz1tCGi7Xes414uIRawyl\n"
	"Jt5KXG3IhPQmyrE=\n"
	"-----END CERTIFICATE-----\n"
	;

static const char fuzz_intermediate_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIEDjCCAvagAwIBAgIUIjgC/TpV32hZ51RaQC5iLfUxSAQwDQYJKoZIhvcNAQEL\n"
	"BQAwazELMAkGA1UEBhMCVk4xIzAhBgNVBAoMGkJhbiBDxqEgeeG6v3UgQ2jDrW5o\n"
	"IHBo4bunMTcwNQYDVQQDDC5DQSBjaHV5w6puIGTDuW5nIENow61uaCBwaOG7pyAo\n"
	"dGjhu60gbmdoaeG7h20pMB4XDTIxMTEzMDEwMjMzNVoXDTM2MTEyNjEwMjMzNVow\n"
	"dzELMAkGA1UEBhMCVk4xIzAhBgNVBAoMGkJhbiBDxqEgeeG6v3UgQ2jDrW5oIHBo\n"
	"4bunMUMwQQYDVQQDDDpDQSBwaOG7pWMgduG7pSBjw6FjIGPGoSBxdWFuIE5ow6Ag\n"
	"bsaw4bubYyAodGjhu60gbmdoaeG7h20pMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n"
	"MIIBCgKCAQEAvPEveuDTQ4KFty0+0LkeWb/pTiVkeqeBinjSZZXtco7L0k0axvCK\n"
	"mzxMW66PnVaGGkNBMrtZKqP3zkMUs490tuLw5Z99ejnL4PR3xeVq5uuiWclPIOca\n"
	"egqUspRk+eN/7fH325VJb2vKnVofGWVYHIb6DQI/M4djBznHlthfungiXbYNHHoc\n"
	"7cER+uphXhHxsQ1uAuE3kCFCsb/LeUry23e/Qb7yWPuCwIfaABCaMIT+HCpk5KHJ\n"
	"PHWJNrnE5qBx0DzFoKRB/NyUZBGTDVHO/5yMeHdjQf4mD9va9ttzbq+NJAuGWP1D\n"
	"gWTcwzzmzpU5V7wiZCCKtGDrYzLvahoeqQIDAQABo4GdMIGaMBIGA1UdEwEB/wQI\n"
	"MAYBAf8CAQAwNAYDVR0fBC0wKzApoCegJYYjaHR0cDovLzEyNy4wLjAuMToxODA4\n"
	"MC9nb3Ytcm9vdC5jcmwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBT2Ed+v4ZJB\n"
	"34XF1oqRG74JE7f1ezAfBgNVHSMEGDAWgBQPKpIaYR5BBknPZG/WSQtylYZxRDAN\n"
	"BgkqhkiG9w0BAQsFAAOCAQEAzikfvBuY1zswxxO8+SlI+08MqDt9EneLu+zjdQ47\n"
	"8bg9rG6uZ0rK8gFk5VKfPH0WFdVejkbaEMJPQHdR/0bxBMsw9ncipin3QDfMYCtI\n"
	"5/EJSSqX0Kks5rYHWEv4i8xu6Q3kebAHs7oFQO5qYerQFA+y638Ht3+RaDWdhPgj\n"
	"BnuQYZxe14UJTMOFLION6gfbqYgW/Pnyovjfw8du710AhV0wS0rvLu7NOZSEbNZc\n"
	"69ACnj6zGw0UUM0XqOecsFzszMaOCV8ls0WLTG++gEDnkyv7/6+/HoeFJvN0MwKL\n"
	"r0QGjOGko+PPJUebAHBTNy5rpG4pEHkapx1y4oWQLWLeIg==\n"
	"-----END CERTIFICATE-----\n"
	;

/* A trust object with those two certificates (NULL on failure). */
static struct smime_trust *
fuzz_trust_new(void)
{
	char dir[] = "/tmp/kyso-fuzz-XXXXXX", a[64], i[64];
	struct kerr err = KERR_INIT;
	struct smime_trust *t = NULL;
	FILE *fa, *fi;

	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(a, sizeof(a), "%s/a.pem", dir);
	snprintf(i, sizeof(i), "%s/i.pem", dir);
	fa = fopen(a, "w");
	fi = fopen(i, "w");
	if (fa != NULL && fi != NULL && fputs(fuzz_anchor_pem, fa) >= 0 && fputs(fuzz_intermediate_pem, fi) >= 0 &&
	    fclose(fa) == 0 && fclose(fi) == 0) {
		fa = fi = NULL;
		t = smime_trust_new(a, i, NULL, &err);
	}
	if (fa != NULL)
		fclose(fa);
	if (fi != NULL)
		fclose(fi);
	unlink(a);
	unlink(i);
	rmdir(dir);
	return t;
}

#endif
