# hsmclient: KEK provider interface, providers, DEK cache, and what the
# providers share (statistics, local RSA).
HSMCLIENT_SRC += hsmclient/kek.c hsmclient/dekcache.c
HSMCLIENT_SHARED_SRC := hsmclient/stats.c hsmclient/rsa.c
# Azure Managed HSM / Key Vault provider: key ops, Entra ID auth, HTTPS.
# One module per concept; see hsmclient/README.md.
HSMCLIENT_AZURE_SRC := $(addprefix hsmclient/azure/, \
	provider.c url.c err.c jwk.c auth.c cred.c jwt.c \
	client.c http.c failover.c retry.c json.c text.c) \
	$(HSMCLIENT_SHARED_SRC)
HSMCLIENT_SRC += $(HSMCLIENT_AZURE_SRC)
# PKCS#11 provider: any PKCS#11 HSM, its module loaded through p11-kit.
HSMCLIENT_PKCS11_SRC := $(addprefix hsmclient/pkcs11/, \
	provider.c uri.c module.c pin.c pool.c keys.c err.c)
HSMCLIENT_SRC += $(HSMCLIENT_PKCS11_SRC)
# The shipped provider table (no software KEK in it).
HSMCLIENT_PROD_SRC := hsmclient/providers.c
