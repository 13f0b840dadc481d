# common: what every layer may use: logging, base64, the clock, number
# parsing, memory for secrets, the stop request, what a wrapped key is,
# the operator's small settings files.
# Depends on nothing else of hsmfs.
COMMON_SRC += common/log.c common/b64.c common/clock.c common/parse.c \
	common/secmem.c common/stop.c common/wrap.c \
	common/cfile.c common/fit.c
