#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The compatibility mode: splicer called as map_update, map_delete or
# map_delete_elem, driven with the exact argv an OpenZiti router sends
# (shared/reference/openziti-diverter.md), checked through the normal
# name's `list -j` and with real traffic.

load helpers

setup() {
	common_setup
	BIN="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$BIN"
	local n
	for n in map_update map_delete map_delete_elem; do
		ln -s "$(readlink -f "$SPLICER")" "$BIN/$n"
	done
}
teardown() { common_teardown; }

# tool NAME ARGS...: run the old tool NAME as a router does, in the
# router's namespace; routers cannot pass --pin-root, only the environment.
tool() {
	local name=$1
	shift
	timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		env SPLICER_PIN_ROOT="$PIN" "$BIN/$name" "$@"
}

# The rule table, one line per rule in id order:
# PROTO DST SRC LOW-HIGH DEV ACTION TO ROUTE SERVICE
table() {
	local js
	js=$(splicer -j list) || return 1
	jq -r '.rules[] | [.proto, .dst, .src, "\(.port_low)-\(.port_high)",
		(.dev // "-"), .action, (.to // "-"),
		(if .route then "route" else "-" end), (.service // "-")]
		| join(" ")' <<<"$js"
}

# lands SRC DST:PORT N: a connection from SRC reaches the listener 127.0.0.1:N
lands() {
	run -0 tcp_client "$NS_C" --src "$1" --connect "$2"
	assert_output --regexp "^local=$2 peer=$1:[0-9]+ listener=127.0.0.1:$3$"
}

# no_answer SRC DST:PORT: the connection is dropped
no_answer() {
	run -2 tcp_client "$NS_C" --src "$1" --connect "$2" --timeout 1
}

# rejected ARGS...: exit 1, one error line, nothing changed
rejected() {
	local before after
	before=$(state_snapshot)
	run -1 --separate-stderr tool "$@"
	assert_error ""
	[ -z "$output" ]
	after=$(state_snapshot)
	assert_equal "$after" "$before"
}

@test "a router's session: probe, service inserts with and without sources and interfaces, traffic, deletes" {
	tcp_server "$NS_R" svc --bind 127.0.0.1 --tag --port 9001 --port 9002 --port 9003
	tcp_server "$NS_R" host --bind "$R_IP" --port 8080
	attach_router
	# the router adds its own local route for an intercepted prefix
	run -0 timeout 10 ip -n "$NS_R" route add local "$VNET" dev lo

	# start-up probe: exit 0, one short line
	run -0 --separate-stderr tool map_update -V
	[ "${#lines[@]}" -eq 1 ]
	[ "${#output}" -lt 80 ]
	assert_output --regexp '^map_update \(splicer [0-9]+\.[0-9]+\.[0-9]+\)$'

	# service A: any source, no interface
	run -0 --separate-stderr tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80 -t 9001 -s svcA
	[ -z "$output$stderr" ]
	run -0 table
	assert_output "tcp 172.16.240.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - svcA"
	lands "$C_IP" "$VIP:80" 9001
	lands "$C_IP2" "$VIP:80" 9001

	# service B: the same port for one source, sent as a /32
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o "$C_IP2" -n 32 -l 80 -h 80 -t 9002 -s svcB
	run -0 table
	assert_output - <<-EOF
		tcp 172.16.240.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - svcA
		tcp 172.16.240.0/24 $C_IP2/32 80-80 - redirect 127.0.0.1:9002 - svcB
	EOF
	lands "$C_IP" "$VIP:80" 9001
	lands "$C_IP2" "$VIP:80" 9002

	# service C: a port range on two interfaces, one run per interface
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 8000 -h 8010 -t 9003 -s svcC -N vr
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 8000 -h 8010 -t 9003 -s svcC -N xr
	# service D: a firewall allow (-t 0) for the router's own address
	run -0 tool map_update -I -c "$R_IP" -m 32 -p tcp \
		-o 10.99.0.0 -n 24 -l 8080 -h 8080 -t 0 -s svcD
	run -0 table
	assert_output - <<-EOF
		tcp 172.16.240.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - svcA
		tcp 172.16.240.0/24 $C_IP2/32 80-80 - redirect 127.0.0.1:9002 - svcB
		tcp 172.16.240.0/24 0.0.0.0/0 8000-8010 vr redirect 127.0.0.1:9003 - svcC
		tcp 172.16.240.0/24 0.0.0.0/0 8000-8010 xr redirect 127.0.0.1:9003 - svcC
		tcp $R_IP/32 10.99.0.0/24 8080-8080 - pass - - svcD
	EOF
	lands "$C_IP" "$VIP:8005" 9003
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 peer=$C_IP:[0-9]+$"

	# a router that restarts sends the same insert again: no second rule
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80 -t 9001 -s svcA
	run -0 rule_count
	assert_output 5

	# deletes: no -t, no -s; -h is ignored on -D
	run -0 --separate-stderr tool map_update -D -c 172.16.240.0 -m 24 -p tcp \
		-o "$C_IP2" -n 32 -l 80 -h 80
	[ -z "$output$stderr" ]
	lands "$C_IP2" "$VIP:80" 9001
	run -0 tool map_update -D -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 8000 -h 8000 -N vr
	run -0 table
	assert_output - <<-EOF
		tcp 172.16.240.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - svcA
		tcp 172.16.240.0/24 0.0.0.0/0 8000-8010 xr redirect 127.0.0.1:9003 - svcC
		tcp $R_IP/32 10.99.0.0/24 8080-8080 - pass - - svcD
	EOF
	# the xr rule does not apply to traffic arriving on vr
	no_answer "$C_IP" "$VIP:8005"

	# a delete without -N removes the unscoped rule only: there is none
	run -3 --separate-stderr tool map_update -D -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 8000
	assert_error "no such rule"
	run -0 rule_count
	assert_output 3

	run -0 tool map_update -D -c 172.16.240.0 -m 24 -p tcp -o 0.0.0.0 -n 0 -l 80 -h 80
	no_answer "$C_IP" "$VIP:80"
	run -0 tool map_update -D -c "$R_IP" -m 32 -p tcp -o 10.99.0.0 -n 24 -l 8080 -h 8080
	no_answer "$C_IP" "$R_IP:8080"
	run -0 table
	assert_output "tcp 172.16.240.0/24 0.0.0.0/0 8000-8010 xr redirect 127.0.0.1:9003 - svcC"
	# the router's own route is none of splicer's business
	run -0 timeout 10 ip -n "$NS_R" route show table local "$VNET"
	assert_output --partial "local $VNET dev lo"
}

splicer_routes6() {
	timeout 10 ip -6 -n "$NS_R" route show table local proto "$SPLICER_RTPROTO"
}

@test "a router's IPv6 session: any source as 0.0.0.0/0, a source address with -n 32, -t PORT to [::1], -D, -L" {
	enable_ipv6
	attach_router

	# service A: the IPv4 "any" source the router gives every intercept
	run -0 --separate-stderr tool map_update -I -c fd00:172:16:240:: -m 64 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80 -t 9001 -s svcA
	[ -z "$output$stderr" ]
	run -0 table
	assert_output "tcp $VNET6 ::/0 80-80 - redirect [::1]:9001 - svcA"

	# service B: an IPv6 source written without a length, sent with -n 32
	run -0 tool map_update -I -c fd00:172:16:240:: -m 64 -p tcp \
		-o "$C_IP6_2" -n 32 -l 80 -h 80 -t 9002 -s svcB
	# an IPv6 /32 without bits beyond it stays a /32
	run -0 tool map_update -I -c fd00:172:16:240:: -m 64 -p udp \
		-o fd00:99:: -n 32 -l 53 -h 53 -t 0 -s svcC -N vr
	# and an IPv4 service beside them
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80 -t 9001 -s svcA
	run -0 table
	assert_output - <<-EOF
		tcp $VNET6 ::/0 80-80 - redirect [::1]:9001 - svcA
		tcp $VNET6 $C_IP6_2/128 80-80 - redirect [::1]:9002 - svcB
		udp $VNET6 fd00:99::/32 53-53 vr pass - - svcC
		tcp 172.16.240.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - svcA
	EOF
	# a restarting router sends the same insert: no second rule
	run -0 tool map_update -I -c fd00:172:16:240:: -m 64 -p tcp \
		-o "$C_IP6_2" -n 32 -l 80 -h 80 -t 9002 -s svcB
	run -0 rule_count
	assert_output 4

	# -L with IPv6: -c/-m pick the family's prefix
	run -0 tool map_update -L -c fd00:172:16:240:: -m 64
	[ "${#lines[@]}" -eq 4 ]
	refute_output --partial "172.16.240.0/24"
	assert_output --partial "[::1]:9002"
	run -0 tool map_update -L -c fd00:172:16:240:: -m 64 -p udp
	[ "${#lines[@]}" -eq 2 ]

	# an IPv6 source on an IPv4 rule, and other IPv4 sources on an IPv6
	# rule, are refused
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -o "$C_IP6" -n 32 \
		-l 81 -h 81 -t 9001
	rejected map_update -I -c fd00:172:16:240:: -m 64 -p tcp -o 10.0.0.0 -n 8 \
		-l 81 -h 81 -t 9001
	rejected map_update -I -c fd00:172:16:240::5 -m 64 -p tcp \
		-o 0.0.0.0 -n 0 -l 81 -h 81 -t 9001
	rejected map_update -I -c fd00:172:16:240:: -m 129 -p tcp \
		-o 0.0.0.0 -n 0 -l 81 -h 81 -t 9001

	# the matching deletes, as the router sends them
	run -0 --separate-stderr tool map_update -D -c fd00:172:16:240:: -m 64 -p tcp \
		-o "$C_IP6_2" -n 32 -l 80 -h 80
	[ -z "$output$stderr" ]
	run -0 tool map_update -D -c fd00:172:16:240:: -m 64 -p udp \
		-o fd00:99:: -n 32 -l 53 -h 53 -N vr
	run -0 tool map_update -D -c fd00:172:16:240:: -m 64 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80
	run -3 --separate-stderr tool map_update -D -c fd00:172:16:240:: -m 64 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80
	assert_error "no such rule"
	run -0 table
	assert_output "tcp 172.16.240.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - svcA"
}

@test "-r on an IPv6 intercept adds the IPv6 local route; the last delete takes it away" {
	enable_ipv6
	attach_router
	run -0 tool map_update -I -c fd00:172:16:240:: -m 64 -p tcp -l 443 -h 443 -t 9001 -r -s web
	run -0 tool map_update -I -c fd00:172:16:240:: -m 64 -p udp -l 443 -h 443 -t 9001 -r -s web
	run -0 splicer_routes6
	assert_output --regexp "^local $VNET6 dev lo "
	[ "${#lines[@]}" -eq 1 ]
	run -0 timeout 10 ip -6 -n "$NS_R" route show table local "$VNET6"
	assert_output --partial "local $VNET6 dev lo proto $SPLICER_RTPROTO"
	# IPv4 routes are untouched
	run -0 splicer_routes
	assert_output ""
	run -0 tool map_update -D -c fd00:172:16:240:: -m 64 -p tcp -l 443 -r
	run -0 splicer_routes6
	assert_output --partial "local $VNET6 dev lo"
	run -0 tool map_update -D -c fd00:172:16:240:: -m 64 -p udp -l 443 -r
	run -0 splicer_routes6
	assert_output ""
	# -F flushes IPv6 routes too
	run -0 tool map_update -I -c fd00:172:16:240:: -m 64 -p tcp -l 443 -h 443 -t 9001 -r
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp -l 443 -h 443 -t 9001 -r
	run -0 tool map_update -F
	run -0 splicer_routes6
	assert_output ""
	run -0 splicer_routes
	assert_output ""
}

@test "-r adds the local route with the rule and the last delete takes it away" {
	tcp_server "$NS_R" svc --bind 127.0.0.1 --tag --port 9001
	attach_router
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp -l 443 -h 443 -t 9001 -r -s web
	run -0 table
	assert_output "tcp 172.16.240.0/24 0.0.0.0/0 443-443 - redirect 127.0.0.1:9001 route web"
	run -0 splicer_routes
	assert_output --partial "local $VNET dev lo"
	# no route added by hand: the rule's route delivers the flow
	lands "$C_IP" "$VIP:443" 9001
	run -0 tool map_update -D -c 172.16.240.0 -m 24 -p tcp -l 443 -r
	run -0 splicer_routes
	assert_output ""
	no_answer "$C_IP" "$VIP:443"
}

@test "the positional forms of the original README, and map_delete_elem PREFIX LEN" {
	udp_tproxy_server "$NS_R" sip --port 58997
	tcp_server "$NS_R" web --bind 10.88.0.1 --port 443
	attach_router
	run -0 timeout 10 ip -n "$NS_R" route add local "$VNET" dev lo
	run -0 --separate-stderr tool map_update 172.16.240.0 24 5060 5060 58997 17
	[ -z "$output$stderr" ]
	run -0 tool map_update 10.88.0.1 32 443 443 0 6
	run -0 table
	assert_output - <<-EOF
		udp 172.16.240.0/24 0.0.0.0/0 5060-5060 - redirect 127.0.0.1:58997 - -
		tcp 10.88.0.1/32 0.0.0.0/0 443-443 - pass - - -
	EOF
	run -0 udp_client "$NS_C" --connect "$VIP:5060"
	assert_output --regexp "^orig=$VIP:5060 peer=$C_IP:[0-9]+$"
	run -0 tcp_client "$NS_C" --connect 10.88.0.1:443
	assert_output --regexp "^local=10.88.0.1:443 "

	run -0 --separate-stderr tool map_delete 172.16.240.0 24 5060 17
	[ -z "$output$stderr" ]
	run -0 table
	assert_output "tcp 10.88.0.1/32 0.0.0.0/0 443-443 - pass - - -"
	run -2 udp_client "$NS_C" --connect "$VIP:5060" --timeout 1
	# map_delete_elem with four arguments is map_delete
	run -0 tool map_delete_elem 10.88.0.1 32 443 6
	run -0 rule_count
	assert_output 0
	run -2 tcp_client "$NS_C" --connect 10.88.0.1:443 --timeout 1

	# two arguments: every rule of the prefix, whatever its ports,
	# protocol, source or interface; other prefixes stay
	run -0 tool map_update 172.16.240.0 24 80 80 9001 6
	run -0 tool map_update 172.16.240.0 24 5000 5999 0 17
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p udp -o 10.99.0.0 -n 24 \
		-l 53 -h 53 -t 0 -N vr
	run -0 tool map_update 172.16.241.0 24 80 80 9001 6
	run -0 rule_count
	assert_output 4
	run -0 --separate-stderr tool map_delete_elem 172.16.240.0 24
	[ -z "$output$stderr" ]
	run -0 table
	assert_output "tcp 172.16.241.0/24 0.0.0.0/0 80-80 - redirect 127.0.0.1:9001 - -"
	run -3 --separate-stderr tool map_delete_elem 172.16.240.0 24
	assert_error "no such rule"
}

@test "map_delete removes the rule with that low port whatever its high port" {
	attach_router
	run -0 tool map_update 172.16.240.0 24 5060 5070 58997 17
	run -0 tool map_update 172.16.240.0 24 5060 5060 0 6
	run -0 tool map_delete 172.16.240.0 24 5060 17
	run -0 table
	assert_output "tcp 172.16.240.0/24 0.0.0.0/0 5060-5060 - pass - - -"
	run -3 --separate-stderr tool map_delete 172.16.240.0 24 5060 17
	assert_error "no such rule"
}

@test "long option names and protocol numbers mean what the short ones do" {
	attach_router
	run -0 tool map_update --insert --dcidr-block 172.16.240.0 --dprefix-len 24 \
		--ocidr-block 10.99.0.0 --oprefix-len 24 --low-port 53 --high-port 54 \
		--tproxy-port 9053 --protocol 17 --service-id dns --interface vr --route
	run -0 tool map_update -I -c 10.99.0.1 -m 32 -p 6 -l 8080 -h 8080 -t 0
	run -0 tool map_update -I -c 10.99.0.1 -m 32 -p UDP -l 8080 -h 8080 -t 0
	run -0 table
	assert_output - <<-EOF
		udp 172.16.240.0/24 10.99.0.0/24 53-54 vr redirect 127.0.0.1:9053 route dns
		tcp 10.99.0.1/32 0.0.0.0/0 8080-8080 - pass - - -
		udp 10.99.0.1/32 0.0.0.0/0 8080-8080 - pass - - -
	EOF
	run -0 tool map_update --delete --dcidr-block 172.16.240.0 --dprefix-len 24 \
		--ocidr-block 10.99.0.0 --oprefix-len 24 --low-port 53 --protocol udp \
		--interface vr
	run -0 rule_count
	assert_output 2
}

@test "-L lists the rules, -c/-m, -p, -i and -f narrow it; -F flushes rules and routes" {
	attach_router
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9001 -r -s web
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p udp -l 53 -h 53 -t 0
	run -0 tool map_update -I -c 10.99.0.1 -m 32 -p tcp -l 8080 -h 8080 -t 0
	run -0 --separate-stderr tool map_update -L
	[ "${#lines[@]}" -eq 4 ]
	assert_line --index 0 --regexp '^ID +PROTO +DESTINATION'
	assert_output --partial "127.0.0.1:9001"
	assert_output --partial "web"
	run -0 tool map_update -L -c 172.16.240.0 -m 24
	[ "${#lines[@]}" -eq 3 ]
	refute_output --partial "10.99.0.1"
	run -0 tool map_update --list -c 172.16.240.0 -m 24 -p udp
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --partial "udp"
	run -0 tool map_update -L -i
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --partial "redirect"
	run -0 tool map_update -L -f
	[ "${#lines[@]}" -eq 3 ]
	refute_output --partial "redirect"
	run -1 --separate-stderr tool map_update -L -c 172.16.240.0
	assert_error "-c and -m go together"

	run -0 splicer_routes
	assert_output --partial "$VNET"
	run -0 --separate-stderr tool map_update -F
	[ -z "$output$stderr" ]
	run -0 rule_count
	assert_output 0
	run -0 splicer_routes
	assert_output ""
	# -F -r, the later tool's form, on an empty set
	run -0 tool map_update -F -r
}

@test "-V, --version, -? and --help exit 0; help names the forms" {
	local form
	for form in -V --version; do
		run -0 --separate-stderr tool map_update "$form"
		[ "${#lines[@]}" -eq 1 ]
		assert_output --regexp '^map_update \(splicer [0-9.]+\)$'
	done
	run -0 --separate-stderr tool map_delete -V
	assert_output --regexp '^map_delete \(splicer [0-9.]+\)$'
	for form in '-?' --help; do
		run -0 --separate-stderr tool map_update "$form"
		assert_output --partial "-I -c DST -m LEN"
		assert_output --partial "-D -c DST"
		assert_output --partial "map_delete_elem DST LEN"
		[ -z "$stderr" ]
	done
}

@test "bad invocations exit 1 with one error line and change nothing" {
	attach_router
	run -0 tool map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9001 -r
	# too few arguments (the old tools printed usage and exited 0)
	rejected map_update
	rejected map_update 172.16.240.0 24 5060
	rejected map_update 172.16.240.0 24 5060 5060 58997
	rejected map_delete 172.16.240.0 24
	rejected map_delete_elem 172.16.240.0
	rejected map_delete_elem 172.16.240.0 24 5060
	assert_error "usage: map_delete_elem DST LEN [LOW PROTO-ID]"
	# low above high, port 0, bad protocol, host bits
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 90 -h 80 -t 9001
	assert_error "low port 90 above high port 80"
	rejected map_update 172.16.240.0 24 90 80 9001 6
	assert_error "low port 90 above high port 80"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 0 -h 80 -t 9001
	assert_error "low port 0: port must be 1-65535"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 65536
	assert_error "tproxy port 65536: port must be 1-65535"
	rejected map_update -I -c 172.16.240.0 -m 24 -p icmp -l 80 -h 80 -t 9001
	assert_error "icmp: unknown protocol"
	rejected map_update 172.16.240.0 24 80 80 9001 1
	assert_error "1: unknown protocol"
	rejected map_update -I -c 172.16.240.5 -m 24 -p tcp -l 80 -h 80 -t 9001
	assert_error "destination 172.16.240.5/24: host bits set; did you mean 172.16.240.0/24?"
	rejected map_update -I -c 172.16.240.0 -m 24 -o 10.99.0.2 -n 24 -p tcp -l 80 -h 80 -t 1
	assert_error "source 10.99.0.2/24: host bits set"
	rejected map_update -I -c 172.16.240.0 -m 33 -p tcp -l 80 -h 80 -t 9001
	assert_error "prefix length must be 0-32"
	# -o needs -n, missing options, unknown options
	rejected map_update -I -c 172.16.240.0 -m 24 -o 10.99.0.2 -p tcp -l 80 -h 80 -t 9001
	assert_error "-o needs -n"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80
	assert_error "-I: missing -t"
	rejected map_update -D -c 172.16.240.0 -m 24 -l 80
	assert_error "-D: missing -p"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9001 -x
	assert_error "-x: unknown option"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9001 --bogus
	assert_error "--bogus: unknown option"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t
	assert_error "-t: missing value"
	rejected map_update -I -D -c 172.16.240.0 -m 24 -p tcp -l 80
	rejected map_update -c 172.16.240.0 -m 24 -p tcp -l 80
	assert_error "one of -I, -D, -L, -F or -V"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9001 -N nosuch0
	assert_error "nosuch0: no such interface"
	rejected map_update -I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9001 extra
	assert_error "extra: unexpected argument"
	# splicer's own options mean other things here
	rejected map_update -j -L
}

@test "before attach a router's insert exits 3 with one line" {
	run -3 --separate-stderr tool map_update -I -c 172.16.240.0 -m 24 -p tcp \
		-o 0.0.0.0 -n 0 -l 80 -h 80 -t 9001 -s svcA
	assert_error "not attached (no maps under $PIN"
	# the probe still answers
	run -0 tool map_update -V
}
