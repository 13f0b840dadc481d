/* SPDX-License-Identifier: Apache-2.0 */
/* How long the HSM asks us to wait: Retry-After and retry-after-ms. */
#include "check.h"
#include "hsmclient/azure/retry.h"

static void seconds_and_ms(void)
{
	CHECK_EQ_INT(retry_after_parse("5", 1000), 5000);
	CHECK_EQ_INT(retry_after_parse("120, more", 1000), 120000);
	CHECK_EQ_INT(retry_after_parse("250", 1), 250);
	CHECK_EQ_INT(retry_after_parse("soon", 1), 0);
}

/* A huge value is at most a day: never wrapped around to a short wait
 * that would be retried at once. */
static void huge_values_clamp(void)
{
	CHECK_EQ_INT(retry_after_parse("4294968", 1000), 86400000);
	CHECK_EQ_INT(retry_after_parse("99999999999999", 1000), 86400000);
	CHECK_EQ_INT(retry_after_parse("99999999999999", 1), 86400000);
	CHECK_EQ_INT(retry_after_parse("86400", 1000), 86400000);
}

CHECK_MAIN("retry", T(seconds_and_ms), T(huge_values_clamp))
