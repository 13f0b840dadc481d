/* SPDX-License-Identifier: Apache-2.0 */
/* "hsm-emulator ctl ...": setup commands that call the control API. */
#ifndef HSMEMU_CTL_H
#define HSMEMU_CTL_H

/* argv[0] is "ctl"; returns the process exit status. */
int ctl_main(int argc, char **argv);

#endif
