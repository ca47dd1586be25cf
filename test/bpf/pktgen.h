/* Builds Ethernet + IPv4/IPv6 + TCP/UDP test packets for the BPF packet tests. */
#ifndef BPFMIRROR_TEST_PKTGEN_H
#define BPFMIRROR_TEST_PKTGEN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#define PG_FIN 0x01
#define PG_SYN 0x02
#define PG_RST 0x04
#define PG_PSH 0x08
#define PG_ACK 0x10

struct pg_flow {
	int family; /* AF_INET or AF_INET6 */
	const char *src;
	const char *dst;
	uint16_t sport; /* host order */
	uint16_t dport;
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP / other */
};

static inline size_t pg_l4(uint8_t *p, const struct pg_flow *f, uint8_t flags, size_t payload)
{
	uint16_t sp = htons(f->sport), dp = htons(f->dport);
	size_t hl;

	if (f->proto == IPPROTO_TCP) {
		hl = 20;
		memset(p, 0, hl);
		memcpy(p, &sp, 2);
		memcpy(p + 2, &dp, 2);
		p[12] = 5 << 4;
		p[13] = flags;
		p[14] = 0xff; /* window */
	} else {
		uint16_t ul = htons((uint16_t)(8 + payload));

		hl = 8;
		memset(p, 0, hl);
		memcpy(p, &sp, 2);
		memcpy(p + 2, &dp, 2);
		memcpy(p + 4, &ul, 2);
	}
	for (size_t i = 0; i < payload; i++)
		p[hl + i] = (uint8_t)('a' + i % 26);
	return hl + payload;
}

/* Writes the packet into buf (big enough); returns its length with Ethernet. */
static inline size_t pg_build(uint8_t *buf, const struct pg_flow *f, uint8_t tcp_flags,
			      size_t payload)
{
	uint8_t *ip = buf + 14;
	size_t l4len;

	memset(buf, 0, 14);
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	if (f->family == AF_INET) {
		uint16_t tot;

		buf[12] = 0x08;
		buf[13] = 0x00;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[8] = 64;
		ip[9] = f->proto;
		inet_pton(AF_INET, f->src, ip + 12);
		inet_pton(AF_INET, f->dst, ip + 16);
		l4len = pg_l4(ip + 20, f, tcp_flags, payload);
		tot = htons((uint16_t)(20 + l4len));
		memcpy(ip + 2, &tot, 2);
		return 14 + 20 + l4len;
	}
	buf[12] = 0x86;
	buf[13] = 0xdd;
	memset(ip, 0, 40);
	ip[0] = 0x60;
	ip[6] = f->proto;
	ip[7] = 64;
	inet_pton(AF_INET6, f->src, ip + 8);
	inet_pton(AF_INET6, f->dst, ip + 24);
	l4len = pg_l4(ip + 40, f, tcp_flags, payload);
	{
		uint16_t pl = htons((uint16_t)l4len);

		memcpy(ip + 4, &pl, 2);
	}
	return 14 + 40 + l4len;
}

#endif
