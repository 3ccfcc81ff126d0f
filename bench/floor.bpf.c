// SPDX-License-Identifier: GPL-2.0-only
/*
 * The floors the datapath figures are compared with: a program that
 * returns at once, and ones that do what every redirect must do at
 * least, a single socket lookup and an assign, with an IPv4 tuple and
 * with an IPv6 one.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* The listeners' addresses (network order), set before loading. */
const volatile __be32 listen_addr;
const volatile __be32 listen_addr6[4];
const volatile __be16 listen_port;
/* The source of the looked-up tuple: what the redirect frames carry. */
const volatile __be32 src_addr6[4];

SEC("tc")
int floor_return(struct __sk_buff *skb __attribute__((unused)))
{
	return TC_ACT_OK;
}

static __always_inline int lookup_assign(struct __sk_buff *skb,
					 struct bpf_sock_tuple *t, __u32 size)
{
	struct bpf_sock *sk;
	long err;

	sk = bpf_sk_lookup_tcp(skb, t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return TC_ACT_SHOT;
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	return err ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int floor_assign(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};

	t.ipv4.saddr = bpf_htonl(0x0a010002);
	t.ipv4.sport = bpf_htons(40000);
	t.ipv4.daddr = listen_addr;
	t.ipv4.dport = listen_port;
	return lookup_assign(skb, &t, sizeof(t.ipv4));
}

SEC("tc")
int floor_assign6(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	int i;

	for (i = 0; i < 4; i++) {
		t.ipv6.saddr[i] = src_addr6[i];
		t.ipv6.daddr[i] = listen_addr6[i];
	}
	t.ipv6.sport = bpf_htons(40000);
	t.ipv6.dport = listen_port;
	return lookup_assign(skb, &t, sizeof(t.ipv6));
}
