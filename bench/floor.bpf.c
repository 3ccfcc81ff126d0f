// SPDX-License-Identifier: GPL-2.0-only
/*
 * The two floors the datapath figures are compared with: a program that
 * returns at once, and one that does what every redirect must do at
 * least, a single socket lookup and an assign.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* The listener's address, set by the benchmark before loading. */
const volatile __be32 listen_addr;
const volatile __be16 listen_port;

SEC("tc")
int floor_return(struct __sk_buff *skb __attribute__((unused)))
{
	return TC_ACT_OK;
}

SEC("tc")
int floor_assign(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	long err;

	t.ipv4.saddr = bpf_htonl(0x0a010002);
	t.ipv4.sport = bpf_htons(40000);
	t.ipv4.daddr = listen_addr;
	t.ipv4.dport = listen_port;
	sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return TC_ACT_SHOT;
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	return err ? TC_ACT_SHOT : TC_ACT_OK;
}
