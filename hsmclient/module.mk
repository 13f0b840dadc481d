# hsmclient: KEK provider interface, providers, DEK cache.
HSMCLIENT_SRC += hsmclient/kek.c hsmclient/dekcache.c
# Azure Managed HSM / Key Vault provider: key ops, Entra ID auth, HTTPS.
HSMCLIENT_AZURE_SRC := hsmclient/azure.c hsmclient/azauth.c \
	hsmclient/http.c hsmclient/jwt.c
HSMCLIENT_SRC += $(HSMCLIENT_AZURE_SRC)
# The shipped provider table (no software KEK in it).
HSMCLIENT_PROD_SRC := hsmclient/providers.c
