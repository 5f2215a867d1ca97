# Loaded by the suites that run shards "on other hosts": an sshd of the
# test's own on 127.0.0.1, with a throwaway host key and a throwaway
# authorized key under $BATS_TEST_TMPDIR, reached as the hosts sa-host-1
# and sa-host-2 through an ssh config of its own (SSH_CONFIG).  No other
# address is ever contacted.

# A port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Starts the sshd; sets SSHD_PID and SSH_CONFIG.  As root it needs the
# privilege separation directory that the ssh service would make; as
# another user sshd can only let that user in, which is all a test needs,
# and where it cannot run at all the test is skipped with its reason.
start_sshd() {
	local d="$BATS_TEST_TMPDIR/ssh" port user i
	[ -x /usr/sbin/sshd ] || fail "no /usr/sbin/sshd: ./bootstrap installs openssh-server"
	mkdir -p "$d"
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -C sa-test-host -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -C sa-test-user -f "$d/user_key"
	cp "$d/user_key.pub" "$d/authorized_keys"
	echo "sa-test-host $(cut -d ' ' -f 1,2 "$d/host_key.pub")" >"$d/known_hosts"
	user=$(id -un)
	port=$(free_port)
	cat >"$d/sshd_config" <<-CONF
	ListenAddress 127.0.0.1
	Port $port
	HostKey $d/host_key
	AuthorizedKeysFile $d/authorized_keys
	PidFile $d/sshd.pid
	AllowUsers $user
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	AcceptEnv none
	CONF
	cat >"$d/ssh_config" <<-CONF
	Host sa-host-1 sa-host-2
	    HostName 127.0.0.1
	    Port $port
	    User $user
	    IdentityFile $d/user_key
	    IdentitiesOnly yes
	    HostKeyAlias sa-test-host
	    UserKnownHostsFile $d/known_hosts
	    GlobalKnownHostsFile /dev/null
	    StrictHostKeyChecking yes
	    BatchMode yes
	    LogLevel ERROR
	CONF
	SSH_CONFIG="$d/ssh_config"
	if [ "$(id -u)" -eq 0 ]; then
		mkdir -p /run/sshd
		chmod 755 /run/sshd
	fi
	/usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" 3>&- &
	SSHD_PID=$!
	for i in $(seq 100); do
		ssh -F "$SSH_CONFIG" sa-host-1 true 2>/dev/null && return 0
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$(id -u)" -ne 0 ] && ! kill -0 "$SSHD_PID" 2>/dev/null; then
		skip "sshd cannot run as $user here: $(tail -n 1 "$d/sshd.log")"
	fi
	fail "sshd on 127.0.0.1:$port does not let $user in: $(cat "$d/sshd.log")"
}

stop_sshd() {
	if [ -n "${SSHD_PID:-}" ]; then
		kill "$SSHD_PID" 2>/dev/null || true
		wait "$SSHD_PID" 2>/dev/null || true
	fi
}
