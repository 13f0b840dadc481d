/* SPDX-License-Identifier: Apache-2.0 */
/* CKR_* values as kek_status and one line. */
#include <stdio.h>

#include <p11-kit/p11-kit.h>

#include "hsmclient/pkcs11/err.h"

enum kek_status p11err_status(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return KEK_OK;
	case CKR_PIN_INCORRECT: case CKR_PIN_INVALID: case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED: case CKR_PIN_LOCKED:
	case CKR_USER_PIN_NOT_INITIALIZED: case CKR_USER_NOT_LOGGED_IN:
	case CKR_USER_TYPE_INVALID:
		return KEK_E_AUTH;
	case CKR_KEY_FUNCTION_NOT_PERMITTED: case CKR_KEY_UNEXTRACTABLE:
	case CKR_ACTION_PROHIBITED: case CKR_TEMPLATE_INCONSISTENT:
	case CKR_ATTRIBUTE_SENSITIVE: case CKR_KEY_NOT_WRAPPABLE:
		return KEK_E_FORBIDDEN;
	case CKR_OBJECT_HANDLE_INVALID: case CKR_KEY_HANDLE_INVALID:
	case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
	case CKR_WRAPPING_KEY_HANDLE_INVALID:
		return KEK_E_NOTFOUND;
	case CKR_ENCRYPTED_DATA_INVALID: case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID: case CKR_WRAPPED_KEY_LEN_RANGE:
	case CKR_DATA_INVALID: case CKR_DATA_LEN_RANGE:
		return KEK_E_CRYPTO;
	case CKR_HOST_MEMORY:
		return KEK_E_NOMEM;
	case CKR_MECHANISM_INVALID: case CKR_MECHANISM_PARAM_INVALID:
	case CKR_ARGUMENTS_BAD: case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_SIZE_RANGE: case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_ATTRIBUTE_TYPE_INVALID: case CKR_TEMPLATE_INCOMPLETE:
	case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
	case CKR_UNWRAPPING_KEY_SIZE_RANGE:
		return KEK_E_INVAL;
	case CKR_DEVICE_ERROR: case CKR_DEVICE_MEMORY: case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT: case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SESSION_CLOSED: case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_COUNT: case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED: case CKR_FUNCTION_CANCELED:
	case CKR_CRYPTOKI_NOT_INITIALIZED: case CKR_SLOT_ID_INVALID:
	case CKR_CANT_LOCK:
		return KEK_E_UNAVAILABLE;
	default:
		return KEK_E_PROTOCOL;
	}
}

/* What the operator does about it. */
static const char *hint(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
		return "; check the PIN source (each wrong PIN counts towards "
		       "the token's lockout)";
	case CKR_PIN_LOCKED:
		return "; the security officer must unlock the user PIN";
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "; the key needs CKA_UNWRAP (or CKA_DECRYPT) for unwraps, "
		       "CKA_WRAP (or CKA_ENCRYPT) for AES wraps";
	case CKR_TEMPLATE_INCONSISTENT: case CKR_ACTION_PROHIBITED:
		return "; the token's policy refuses unwrapping to a session "
		       "key hsmfs can read: give the key CKA_DECRYPT instead";
	case CKR_MECHANISM_INVALID: case CKR_MECHANISM_PARAM_INVALID:
		return "; the token does not offer this mechanism with these "
		       "parameters";
	default:
		return "";
	}
}

enum kek_status p11err(CK_RV rv, const char *what, char *err)
{
	const char *text = p11_kit_strerror(rv);

	snprintf(err, KEK_ERR_MAX, "%s: %s (CKR 0x%lx)%s", what,
		 text ? text : "unknown error", (unsigned long)rv, hint(rv));
	return p11err_status(rv);
}

bool p11err_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	       rv == CKR_USER_NOT_LOGGED_IN ||
	       rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

bool p11err_stale_handle(CK_RV rv)
{
	return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID ||
	       rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID ||
	       rv == CKR_WRAPPING_KEY_HANDLE_INVALID;
}
