/* Internal interface between datapath.c (loader) and datapath_subs.c (map state). */
#ifndef BPFMIRROR_DATAPATH_INT_H
#define BPFMIRROR_DATAPATH_INT_H

#include "datapath.h"

int datapath_map_fd_subs(const struct datapath *dp);
int datapath_map_fd_reserved(const struct datapath *dp);
int datapath_map_fd_flows(const struct datapath *dp);
int datapath_port_key(const struct datapath_ip *ip, uint16_t port, struct bm_port_key *k);

#endif
