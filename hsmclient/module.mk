# hsmclient: KEK provider interface, providers, DEK cache.
HSMCLIENT_SRC += hsmclient/kek.c hsmclient/dekcache.c
# Azure Managed HSM / Key Vault provider: key ops, Entra ID auth, HTTPS.
# One module per concept; see hsmclient/README.md.
HSMCLIENT_AZURE_SRC := $(addprefix hsmclient/azure/, \
	provider.c url.c err.c rsa.c auth.c cred.c jwt.c \
	client.c http.c failover.c retry.c stats.c json.c text.c)
HSMCLIENT_SRC += $(HSMCLIENT_AZURE_SRC)
# The shipped provider table (no software KEK in it).
HSMCLIENT_PROD_SRC := hsmclient/providers.c
