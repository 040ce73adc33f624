/* musl has no <linux/vm_sockets.h>: the kernel's vsock address layout and
 * the few constants wisp-init and the guest test helpers use, declared
 * once here. */
#ifndef WISP_VM_SOCKETS_H
#define WISP_VM_SOCKETS_H

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define VMADDR_CID_ANY 0xffffffffU
#define VMADDR_CID_HOST 2

struct sockaddr_vm {
	unsigned short svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[4];
};

#endif
