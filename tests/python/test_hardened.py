"""The hardened backend's own promises: every sandbox layer holds when attacked from native code
inside the guest, and whatever the guest does costs the caller one clear exception, never the
host process. The attacks come from `jscell-guest-faulty`, a test-only build of the guest whose
fault hook (`__host_op_sync__(FAULT_OP, name)`) runs native code inside the guest."""

from __future__ import annotations

import gc
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

import jscell

FAULTY_GUEST = pathlib.Path(__file__).resolve().parents[2] / "target" / "release" / "jscell-guest-faulty"
FAULT_OP = 2**32 - 1
GRACE = 1.0


@pytest.fixture
def faulty():
    """Hardened runtimes on the fault-injecting guest, closed at the end."""
    if not FAULTY_GUEST.exists():
        pytest.fail(f"{FAULTY_GUEST} is missing: `cargo xtask test` builds it")
    runtimes = []

    def make(**config):
        runtime = jscell.Runtime(jscell.RuntimeConfig(backend="hardened", guest_path=FAULTY_GUEST, **config))
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


def fault(runtime, name, **kwargs):
    return runtime.eval(f"__host_op_sync__({FAULT_OP}, {name!r})", **kwargs)


def guest_is_gone(pid):
    return not os.path.exists(f"/proc/{pid}") or "zombie" in pathlib.Path(f"/proc/{pid}/status").read_text().lower()


def test_release_guest_has_no_fault_hook():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        with pytest.raises(jscell.JavaScriptError, match="no op or host function has id"):
            fault(runtime, "open")


# Every layer is active on a kernel that has them all (this one does).
NEVER_ACTIVE: set[str] = set()


def test_every_sandbox_layer_this_kernel_supports_is_active():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        stats = runtime.get_stats()
        inactive = {layer for layer, active in stats.sandbox_layers.items() if not active}
        assert inactive == NEVER_ACTIVE, stats.sandbox_layers
        assert {
            "close_inherited_fds", "no_new_privs", "not_dumpable", "rlimits", "user_namespace", "network_namespace",
            "mount_namespace", "pid_namespace", "ipc_namespace", "uts_namespace", "landlock", "seccomp",
        } <= set(stats.sandbox_layers)
        status = pathlib.Path(f"/proc/{stats.guest_pid}/status").read_text()
        assert "\nSeccomp:\t2" in status
        assert "\nNoNewPrivs:\t1" in status


def test_the_guest_has_only_the_wire_open_and_an_empty_environment():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        pid = runtime.get_stats().guest_pid
        assert os.listdir(f"/proc/{pid}/fd") == ["0"]  # the wire socket, as stdin
        assert pathlib.Path(f"/proc/{pid}/environ").read_bytes() == b""
        assert os.readlink(f"/proc/{pid}/cwd") == "/"


def test_native_code_in_the_guest_cannot_open_files(faulty):
    """Opening is refused with an error, not fatal: glibc and V8 probe files and cope."""
    runtime = faulty()
    assert fault(runtime, "open") == "EACCES"
    assert runtime.eval("1 + 1") == 2


# Each of these is outside the system call policy: the kernel kills the guest for it.
FORBIDDEN = ["socket", "fork", "exec", "ptrace", "kill_parent", "undump", "ioctl", "futex_requeue", "bare_thread_clone", "unshare"]


@pytest.mark.parametrize("attack", FORBIDDEN)
def test_a_forbidden_system_call_kills_the_guest_and_costs_one_clear_exception(faulty, attack):
    runtime = faulty()
    pid = runtime.get_stats().guest_pid
    with pytest.raises(jscell.RuntimeTerminated, match="forbidden system call") as caught:
        fault(runtime, attack, timeout=5)
    assert (caught.value.reason, caught.value.signal) == ("guest_crashed", signal.SIGSYS)
    assert guest_is_gone(pid)
    assert faulty().eval("40 + 2") == 42


@pytest.mark.parametrize("attack", ["exec_memory", "mprotect_exec"])
def test_executable_memory_is_the_jits_alone(faulty, attack):
    """With the JIT, V8 makes code; jitless, nothing in the guest may make memory executable."""
    assert fault(faulty(), attack) == "ALLOWED"
    with pytest.raises(jscell.RuntimeTerminated) as caught:
        fault(faulty(jitless=True), attack, timeout=5)
    assert (caught.value.reason, caught.value.signal) == ("guest_crashed", signal.SIGSYS)


def test_the_guest_lives_in_its_own_user_network_and_pid_namespaces():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        pid = runtime.get_stats().guest_pid
        for kind in ("net", "user", "pid"):
            assert os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"), kind
        # The engine is alone in its PID namespace, as its init; its reaper outside holds it.
        assert pathlib.Path(f"/proc/{pid}/status").read_text().split("NSpid:")[1].split()[1] == "1"
        reaper = reaper_of(pid)
        assert reaper in guest_children()
        assert "\nSeccomp:\t2" in pathlib.Path(f"/proc/{reaper}/status").read_text()
        assert os.listdir(f"/proc/{reaper}/fd") == []


def test_abort_in_the_engine_is_reported_as_the_signal_it_is(faulty):
    """As its namespace's init the engine cannot be killed by the signal it sends itself; the
    reaper reports abort() as SIGABRT all the same."""
    with pytest.raises(jscell.RuntimeTerminated) as caught:
        fault(faulty(), "abort", timeout=5)
    assert (caught.value.reason, caught.value.signal) == ("guest_crashed", signal.SIGABRT)


def test_stats_report_the_guest_process():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        stats = runtime.get_stats()
        assert stats.guest_pid > 0 and stats.guest_rss_bytes > 0


def test_native_runtimes_report_no_guest():
    with jscell.Runtime(jscell.RuntimeConfig(backend="native")) as runtime:
        stats = runtime.get_stats()
        assert (stats.guest_pid, stats.guest_rss_bytes, stats.sandbox_layers) == (None, None, None)


@pytest.mark.parametrize(
    ("attack", "reason", "cause"),
    [
        ("segfault", "guest_crashed", "signal 11"),
        ("abort", "guest_crashed", "signal 6"),
        ("exit", "guest_exited", "exited with code 3"),
        ("garbage", "protocol_violation", "wire protocol"),
        ("oversized", "protocol_violation", "exceeds the limit"),
        ("lane_misuse", "protocol_violation", "malformed frame"),
        ("lane_wrong_reply", "protocol_violation", "wire protocol"),
    ],
)
def test_a_guest_that_dies_or_misbehaves_costs_one_clear_exception(faulty, attack, reason, cause):
    runtime = faulty()
    pid = runtime.get_stats().guest_pid
    with pytest.raises(jscell.RuntimeTerminated, match=cause) as caught:
        fault(runtime, attack, timeout=5)
    assert caught.value.reason == reason
    assert (caught.value.signal, caught.value.exit_code) == {
        "segfault": (11, None), "abort": (6, None), "exit": (None, 3)
    }.get(attack, (None, None))
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.eval("1")
    assert guest_is_gone(pid)
    assert faulty().eval("40 + 2") == 42


def test_a_hanging_guest_is_killed_after_its_timeout_and_a_grace_period(faulty):
    runtime = faulty()
    started = time.monotonic()
    with pytest.raises(jscell.RuntimeTerminated, match="did not answer") as caught:
        fault(runtime, "hang", timeout=0.3)
    assert caught.value.reason == "timeout_overdue"
    assert time.monotonic() - started < 0.3 + GRACE + 1.0


def test_a_stopped_guest_is_killed_after_its_timeout_and_a_grace_period():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        os.kill(runtime.get_stats().guest_pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(jscell.RuntimeTerminated):
            runtime.eval("1", timeout=0.3)
        assert time.monotonic() - started < 0.3 + GRACE + 1.0


def test_the_memory_cap_ends_the_guest_not_the_host(faulty):
    runtime = faulty(max_process_memory=1 << 30)
    with pytest.raises(jscell.RuntimeTerminated):
        fault(runtime, "memory", timeout=10)
    assert faulty().eval("'alive'") == "alive"


def test_a_guest_killed_mid_eval_fails_the_call_within_a_second_and_others_carry_on():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as victim, jscell.Runtime(
        jscell.RuntimeConfig(backend="hardened")
    ) as bystander:
        pid = victim.get_stats().guest_pid
        killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        with pytest.raises(jscell.RuntimeTerminated, match="signal 9") as caught:
            victim.eval("for (;;) {}")
        assert (caught.value.reason, caught.value.signal) == ("guest_crashed", 9)
        assert time.monotonic() - started < 0.3 + 1.0
        killer.join()
        assert bystander.eval("[1, 2, 3].length") == 3


def test_a_large_transfer_does_not_pin_shared_memory():
    """Blocking calls pass frames through memory shared with the guest; the pages of a large one
    go back to the system once read."""
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        assert len(runtime.eval("'x'.repeat(64 << 20)")) == 64 << 20
        assert runtime.eval("s => s.length")("y" * (64 << 20)) == 64 << 20
        assert status_kib(runtime.get_stats().guest_pid, "RssShmem") < 4096


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def test_closing_or_collecting_a_runtime_reaps_its_guest():
    runtime = jscell.Runtime(jscell.RuntimeConfig(backend="hardened"))
    pid = runtime.get_stats().guest_pid
    runtime.close()
    assert not os.path.exists(f"/proc/{pid}")
    runtime = jscell.Runtime(jscell.RuntimeConfig(backend="hardened"))
    pid = runtime.get_stats().guest_pid
    del runtime
    gc.collect()
    assert not os.path.exists(f"/proc/{pid}")


def test_terminate_kills_the_guest():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as runtime:
        pid = runtime.get_stats().guest_pid
        runtime.terminate()
        with pytest.raises(jscell.RuntimeTerminated, match="terminate") as caught:
            runtime.eval("1")
        assert caught.value.reason == "requested"
        assert not os.path.exists(f"/proc/{pid}")


def test_hardened_only_options_are_refused_on_native():
    for field, value in (("jitless", True), ("max_process_memory", 1 << 30), ("guest_path", FAULTY_GUEST), ("warm_guests", 1)):
        with pytest.raises(ValueError, match=field):
            jscell.RuntimeConfig(backend="native", **{field: value})


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), (17, ValueError), ("2", TypeError), (True, TypeError)])
def test_warm_guests_must_be_a_small_count(value, error):
    with pytest.raises(error, match="warm_guests"):
        jscell.RuntimeConfig(backend="hardened", warm_guests=value)


def reaper_of(engine):
    """The guest process (its reaper) that holds `engine`."""
    return int(pathlib.Path(f"/proc/{engine}/stat").read_text().rsplit(")", 1)[1].split()[1])


def engine_of(guest):
    """The engine process a guest's reaper holds (the guest itself where it has none)."""
    children = pathlib.Path(f"/proc/{guest}/task/{guest}/children").read_text().split()
    return int(children[0]) if children else guest


def guest_children(parent=None):
    """Pids of the jscell-guest processes whose parent is `parent` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read()
        except FileNotFoundError:  # it ended meanwhile
            continue
        name, rest = fields[fields.index("(") + 1 : fields.rindex(")")], fields[fields.rindex(")") + 2 :].split()
        if name.startswith("jscell-guest") and rest[0] != "Z" and int(rest[1]) == parent:
            found.add(int(entry))
    return found


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_warm_guests_are_started_ahead_and_taken_by_new_runtimes():
    # Options of its own (the memory cap), so no other test's pool is involved.
    config = jscell.RuntimeConfig(backend="hardened", warm_guests=1, max_process_memory=(1 << 30) + 4096)
    before = guest_children()
    with jscell.Runtime(config) as first:
        known = before | {reaper_of(first.get_stats().guest_pid)}
        wait_for(lambda: guest_children() - known)
        (warm,) = guest_children() - known
        # Prepared means sandboxed: the engine process exists once the guest's sandbox is up.
        wait_for(lambda: engine_of(warm) != warm)
        warm = engine_of(warm)
        # Other options get a guest of their own, never this pool's.
        with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as other:
            assert other.get_stats().guest_pid != warm
        with jscell.Runtime(config) as second:
            stats = second.get_stats()
            assert stats.guest_pid == warm
            assert {layer for layer, active in stats.sandbox_layers.items() if not active} == NEVER_ACTIVE
            assert "\nSeccomp:\t2" in pathlib.Path(f"/proc/{warm}/status").read_text()
            assert second.eval("[1, 2, 3].map(x => x * 2)") == [2, 4, 6]


def test_a_warm_guest_that_died_waiting_is_passed_over():
    config = jscell.RuntimeConfig(backend="hardened", warm_guests=1, jitless=True, max_process_memory=(1 << 30) + 8192)
    before = guest_children()
    with jscell.Runtime(config) as first:
        known = before | {reaper_of(first.get_stats().guest_pid)}
        wait_for(lambda: guest_children() - known)
        (warm,) = guest_children() - known
        os.kill(warm, signal.SIGKILL)
        with jscell.Runtime(config) as second:
            assert second.get_stats().guest_pid != warm
            assert second.eval("'fresh'") == "fresh"
        assert not os.path.exists(f"/proc/{warm}")


def test_warm_guests_end_with_the_process_that_started_them():
    script = (
        "import jscell, os, sys, time\n"
        "runtime = jscell.Runtime(jscell.RuntimeConfig(backend='hardened', warm_guests=2))\n"
        "print(os.getpid(), flush=True)\n"
        "sys.stdin.readline()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        wait_for(lambda: len(guest_children(pid)) == 3)
        guests = guest_children(pid)
    finally:
        parent.stdin.close()
        parent.wait(timeout=30)
    wait_for(lambda: not any(is_running(guest) for guest in guests))


def is_running(pid):
    """Whether `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_jitless_guests_run_javascript():
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened", jitless=True)) as runtime:
        assert runtime.eval("let s = 0; for (let i = 0; i < 1000; i++) s += i; s") == 499500


HEAP_BOMB = "const hog = []; for (;;) hog.push(new Array(1e5).fill(Math.random()))"


@pytest.mark.parametrize("jitless", [False, True], ids=["jit", "jitless"])
@pytest.mark.parametrize("cap_mib", [64, 128, 256])
def test_a_small_memory_cap_starts_runs_and_ends_runaway_allocation_naming_the_cap(cap_mib, jitless):
    """Where the parent can give a guest a memory cgroup, the cap holds what the guest commits,
    so a 64 MB cap is a working runtime (V8 reserves some 600 MB of address space it never uses)."""
    if jscell._jscell.process_memory_floor()[1] != "cgroup":
        pytest.skip("this machine lets jscell make no memory cgroup: the rlimit test covers it")
    config = jscell.RuntimeConfig(backend="hardened", max_process_memory=cap_mib << 20, jitless=jitless)
    with jscell.Runtime(config) as runtime:
        assert runtime.get_stats().sandbox_layers["memory_cgroup"] is True
        assert runtime.eval("Array.from({length: 1000}, (_, i) => i).reduce((a, b) => a + b)") == 499500
        with pytest.raises(jscell.RuntimeTerminated, match=f"memory cap of {cap_mib << 20} bytes") as caught:
            runtime.eval(HEAP_BOMB, timeout=60)
        assert caught.value.reason == "process_memory_limit"
    assert jscell.Runtime(jscell.RuntimeConfig(backend="hardened")).eval("'after'") == "after"


def test_without_a_cgroup_the_rlimit_holds_the_cap_above_a_named_floor():
    """Where no memory cgroup can be made, the guest's RLIMIT_DATA holds the cap: it counts
    reservations, so caps below the floor are refused when the config is made, and the floor
    itself starts and names the cap when reached."""
    script = f"""
import jscell, pytest
assert jscell._jscell.process_memory_floor() == (256 << 20, "rlimit")
with pytest.raises(ValueError, match=r"max_process_memory must be at least 268435456 bytes \\(256 MiB; .*RLIMIT_DATA"):
    jscell.RuntimeConfig(backend="hardened", max_process_memory=128 << 20)
with jscell.Runtime(jscell.RuntimeConfig(backend="hardened", max_process_memory=256 << 20)) as runtime:
    assert runtime.get_stats().sandbox_layers["memory_cgroup"] is False
    assert runtime.eval("6 * 7") == 42
    with pytest.raises(jscell.RuntimeTerminated, match="memory cap of 268435456 bytes") as caught:
        runtime.eval({HEAP_BOMB!r}, timeout=60)
    assert caught.value.reason == "process_memory_limit"
print("ok")
"""
    env = dict(os.environ, JSCELL_MEMORY_CGROUP="0")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_no_guest_leaves_a_memory_cgroup_behind():
    if jscell._jscell.process_memory_floor()[1] != "cgroup":
        pytest.skip("this machine lets jscell make no memory cgroup")
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened", max_process_memory=64 << 20)) as runtime:
        pid = runtime.get_stats().guest_pid
        memory = next(line for line in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines() if "memory" in line or line.startswith("0::"))
        cgroup = memory.split(":", 2)[2]
        assert "/jscell-" in cgroup
    assert not any(pathlib.Path(root, cgroup.lstrip("/")).exists() for root in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"))
