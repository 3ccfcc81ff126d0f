#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# make install/uninstall into a DESTDIR: the binary, the compatibility
# links, splicer(8), the bash completion, the systemd unit and the sample
# configuration; and what those files say.

load helpers

setup() {
	common_setup
	ROOT="$BATS_TEST_TMPDIR/root"
}
teardown() { common_teardown; }

mk() {
	timeout 600 make -s -C "$REPO" "$@"
}

# The man page as plain text on long lines (no breaks at hyphens), and
# groff's warnings about it.
man_text() {
	groff -man -Tascii -ww -rLL=300n -P-cbou "$1"
}

@test "make install puts the binary, the compatibility links, the man page and the completion under DESTDIR" {
	run -0 mk install DESTDIR="$ROOT" PREFIX=/usr
	local sbin="$ROOT/usr/sbin"
	[ -x "$sbin/splicer" ]
	[ ! -L "$sbin/splicer" ]
	cmp "$sbin/splicer" "$REPO/splicer"
	local n
	for n in map_update map_delete map_delete_elem; do
		[ -L "$sbin/$n" ]
		[ "$(readlink "$sbin/$n")" = splicer ]
	done
	# the links run splicer in its compatibility mode
	run -0 --separate-stderr "$sbin/map_update" -V
	assert_output --regexp '^map_update \(splicer [0-9.]+\)$'
	run -0 --separate-stderr "$sbin/splicer" version
	assert_output --regexp '^splicer [0-9.]+$'

	local man="$ROOT/usr/share/man/man8/splicer.8"
	local comp="$ROOT/usr/share/bash-completion/completions/splicer"
	[ -f "$man" ]
	[ -f "$comp" ]
	[ "$(stat -c %a "$man")" = 644 ]
	[ "$(stat -c %a "$comp")" = 644 ]
	[ "$(stat -c %a "$sbin/splicer")" = 755 ]
	# nothing else was installed
	run -0 bash -c "cd '$ROOT' && find . -type f -o -type l | sort"
	assert_output - <<-EOF
		./etc/splicer/splicer.conf
		./usr/lib/systemd/system/splicer.service
		./usr/sbin/map_delete
		./usr/sbin/map_delete_elem
		./usr/sbin/map_update
		./usr/sbin/splicer
		./usr/share/bash-completion/completions/splicer
		./usr/share/man/man8/splicer.8
	EOF
	# the unit runs the installed binary on the installed configuration
	local unit="$ROOT/usr/lib/systemd/system/splicer.service"
	[ "$(stat -c %a "$unit")" = 644 ]
	run -0 grep -E '^Exec' "$unit"
	assert_line "ExecStart=/usr/sbin/splicer watch --config /etc/splicer/splicer.conf"
	refute_output --partial "@"
	# the sample configuration applies, and changes nothing: all comments
	cmp "$ROOT/etc/splicer/splicer.conf" "$REPO/etc/splicer.conf"
	run -1 grep -cvE '^[[:space:]]*(#|$)' "$ROOT/etc/splicer/splicer.conf"
	assert_output 0
	# the completion file is a bash script that registers itself
	run -0 bash -c "source '$comp' && complete -p splicer"
	assert_output "complete -F _splicer splicer"
	# and completes the commands of splicer's own table, as help lists them
	run -0 env PATH="$ROOT/usr/sbin:$PATH" bash -c "source '$comp' &&
		COMP_WORDS=(splicer '') COMP_CWORD=1 && _splicer && echo \${COMPREPLY[*]}"
	assert_output "$("$ROOT/usr/sbin/splicer" help | sed -n 's/^  splicer \([a-z]*\).*/\1/p' | xargs)"
	assert_output --partial "attach detach add del"

	run -0 mk uninstall DESTDIR="$ROOT" PREFIX=/usr
	run -0 find "$ROOT" -type f -o -type l
	assert_output ""
}

@test "SBINDIR, MANDIR, UNITDIR and SYSCONFDIR move what PREFIX would put" {
	run -0 mk install DESTDIR="$ROOT" PREFIX=/opt/spl SBINDIR=/sbin MANDIR=/usr/man
	[ -x "$ROOT/sbin/splicer" ]
	[ "$(readlink "$ROOT/sbin/map_delete_elem")" = splicer ]
	[ -f "$ROOT/usr/man/man8/splicer.8" ]
	[ -f "$ROOT/opt/spl/share/bash-completion/completions/splicer" ]
	[ ! -e "$ROOT/opt/spl/sbin" ]
	# the unit under PREFIX, naming SBINDIR; the configuration in /etc
	run -0 grep '^ExecStart=' "$ROOT/opt/spl/lib/systemd/system/splicer.service"
	assert_output "ExecStart=/sbin/splicer watch --config /etc/splicer/splicer.conf"
	[ -f "$ROOT/etc/splicer/splicer.conf" ]
	run -0 mk uninstall DESTDIR="$ROOT" PREFIX=/opt/spl SBINDIR=/sbin MANDIR=/usr/man
	run -0 find "$ROOT" -type f -o -type l
	assert_output ""

	run -0 mk install DESTDIR="$ROOT" PREFIX=/usr UNITDIR=/lib/systemd/system SYSCONFDIR=/opt/etc
	run -0 grep -E '^(ExecStart|ConditionPathExists)=' "$ROOT/lib/systemd/system/splicer.service"
	assert_output - <<-EOF
		ConditionPathExists=/opt/etc/splicer/splicer.conf
		ExecStart=/usr/sbin/splicer watch --config /opt/etc/splicer/splicer.conf
	EOF
	[ -f "$ROOT/opt/etc/splicer/splicer.conf" ]
	run -0 mk uninstall DESTDIR="$ROOT" PREFIX=/usr UNITDIR=/lib/systemd/system SYSCONFDIR=/opt/etc
	run -0 find "$ROOT" -type f -o -type l
	assert_output ""
}

@test "an edited configuration survives make install and make uninstall" {
	run -0 mk install DESTDIR="$ROOT" PREFIX=/usr
	local conf="$ROOT/etc/splicer/splicer.conf"
	printf 'attach eth1\n' >"$conf"
	run -0 mk install DESTDIR="$ROOT" PREFIX=/usr
	run -0 cat "$conf"
	assert_output "attach eth1"
	run -0 mk uninstall DESTDIR="$ROOT" PREFIX=/usr
	run -0 bash -c "cd '$ROOT' && find . -type f -o -type l"
	assert_output "./etc/splicer/splicer.conf"
}

@test "the sample configuration applies: it attaches nothing and empties the rule set" {
	run -0 splicer apply "$REPO/etc/splicer.conf"
	run -0 rule_count
	assert_output 0
	run -0 splicer -j stats
	json_true "$output" '.interfaces == []'
	# and every commented-out line is a valid line once uncommented
	sed -n 's/^#\(attach\|add\) /\1 /p' "$REPO/etc/splicer.conf" |
		sed -e 's/eth1/vr/; s/eth2/xr/' >"$BATS_TEST_TMPDIR/all.conf"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/all.conf")" -ge 4 ]
	run -0 --separate-stderr splicer apply --check "$BATS_TEST_TMPDIR/all.conf"
	[ -z "$stderr" ]
}

@test "splicer(8) is valid roff and documents every command, option, exit status and compatibility form" {
	run -0 mk man
	local man="$REPO/build/splicer.8" want
	want=$(sed -n 's/^VERSION := *//p' "$REPO/Makefile")
	run -0 grep -m1 '^\.TH ' "$man"
	assert_output --regexp "^\.TH \"splicer\" \"8\" \"[0-9-]+\" \"splicer $want\""
	# groff renders it without a warning
	run -0 --separate-stderr man_text "$man"
	[ -z "$stderr" ]
	local text=$output word
	for word in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS RULES "BATCH FILES" \
		"CONFIGURATION FILE" "COMPATIBILITY MODE" "EXIT STATUS" "JSON OUTPUT" ENVIRONMENT FILES EXAMPLES; do
		grep -q "^$word\$" <<<"$text" || fail "no section $word"
	done
	for word in attach detach add del list stats batch apply save flush monitor help version watch \
		--config SPLICER_CONFIG /etc/splicer/splicer.conf splicer.service SIGHUP SIGTERM \
		--json --pretty --quiet --verbose --pin-root --help --version --check --purge icmp-echo \
		--watch --format --textfile prometheus splicer_packets_total \
		SPLICER_PIN_ROOT SPLICER_LOCK_TIMEOUT /sys/fs/bpf/splicer map_update map_delete map_delete_elem \
		--insert --delete --list --flush --dcidr-block --dprefix-len --ocidr-block \
		--oprefix-len --low-port --high-port --tproxy-port --protocol --route \
		--interface --service-id --intercepts --passthrough redirect pass drop \
		'"schema": 1' 'host bits'; do
		grep -qF -- "$word" <<<"$text" || fail "splicer(8) does not mention $word"
	done
	local code
	for code in 0 1 2 3; do
		grep -A20 '^EXIT STATUS' <<<"$text" | grep -qE "^ +$code\$" ||
			fail "no exit status $code"
	done
}

# complete WORDS...: what the completion offers for the last word, inside
# the router namespace (ip netns exec shows its /sys/class/net)
complete_words() {
	local cmd
	cmd="source '$REPO/cmd/splicer.bash-completion'
		COMP_WORDS=($(printf "'%s' " "$@")); COMP_CWORD=$(($# - 1))
		_splicer; printf '%s\n' \"\${COMPREPLY[@]}\" | sort | tr '\n' ' '"
	# the completion asks splicer itself for its commands: on PATH, as
	# an installed splicer is
	in_r env PATH="$(dirname "$(readlink -f "$SPLICER")"):$PATH" bash -c "$cmd"
}

@test "bash completion offers commands, keywords, interface names and files" {
	run -0 complete_words splicer ''
	assert_output "add apply attach batch del detach flush help list monitor save stats version watch "
	run -0 complete_words splicer a
	assert_output "add apply attach "
	run -0 complete_words splicer --p
	assert_output "--pin-root --pretty "
	run -0 complete_words splicer attach ''
	assert_output "help lo vr xp xr "
	run -0 complete_words splicer add 10.0.0.0/8 ''
	assert_output "dev drop from pass port proto redirect route service "
	run -0 complete_words splicer ad 10.0.0.0/8 proto ''
	assert_output "tcp udp "
	run -0 complete_words splicer add 10.0.0.0/8 proto tcp port 80 pass ''
	assert_output "dev from route service "
	run -0 complete_words splicer del 10.0.0.0/8 proto udp port 53 d
	assert_output "dev "
	run -0 complete_words splicer -j del 10.0.0.0/8 dev x
	assert_output "xp xr "
	run -0 complete_words splicer help b
	assert_output "batch "
	touch "$BATS_TEST_TMPDIR/rules.conf"
	run -0 complete_words splicer batch -f "$BATS_TEST_TMPDIR/rul"
	assert_output "$BATS_TEST_TMPDIR/rules.conf "
	run -0 complete_words splicer apply "$BATS_TEST_TMPDIR/rul"
	assert_output "$BATS_TEST_TMPDIR/rules.conf "
	run -0 complete_words splicer batch --c
	assert_output "--check "
	run -0 complete_words splicer detach vr ''
	assert_output "--purge "
	run -0 complete_words splicer attach vr ''
	assert_output "icmp-echo "
	run -0 complete_words splicer att vr icmp-echo ''
	assert_output "off on "
	run -0 complete_words splicer watch ''
	assert_output "--config help lo vr xp xr "
	run -0 complete_words splicer watch --config "$BATS_TEST_TMPDIR/rul"
	assert_output "$BATS_TEST_TMPDIR/rules.conf "
	run -0 complete_words splicer w --config /x vr x
	assert_output "xp xr "
	run -0 complete_words splicer mon ''
	assert_output "-j dev help proto reason verdict "
	run -0 complete_words splicer monitor dev vr verdict ''
	assert_output "drop pass redirect "
	run -0 complete_words splicer -j monitor verdict drop ''
	assert_output "dev proto reason "
	run -0 complete_words splicer monitor reason no_
	assert_output "no_listener no_rule "
	run -0 complete_words splicer monitor reason n
	assert_output "nd no_listener no_rule not_ip "
	run -0 complete_words splicer monitor reason e
	assert_output "established ext_header "
	run -0 complete_words splicer monitor proto icmp
	assert_output "icmp icmpv6 "
	run -0 complete_words splicer stats --
	assert_output "--format --textfile --watch "
	run -0 complete_words splicer st --format p
	assert_output "prometheus "
}
