# common: logging, small utilities shared by every program.
COMMON_SRC += common/log.c common/b64.c
