#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal of the current terminal's size, echoes what it prints,
and types into it as a person would: for each STEP, wait until TEXT appears, pause, then send
KEYS one at a time. Used by scripts/record-rotate.sh to record the interactive pickers.

Usage: type-into.py 'TEXT=>KEYS' ... -- COMMAND ARG...
KEYS understands \\r (Enter), \\x1b[B (down) and the other Python string escapes."""
import fcntl
import os
import pty
import select
import sys
import termios
import time


def keystrokes(keys):
    """One key at a time; an escape sequence (an arrow: ESC [ B) is one key."""
    i = 0
    while i < len(keys):
        n = 3 if keys[i] == "\x1b" else 1
        yield keys[i:i + n]
        i += n


def main():
    split = sys.argv.index("--")
    steps = [arg.split("=>", 1) for arg in sys.argv[1:split]]
    command = sys.argv[split + 1:]
    size = fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, size)
    seen = b""

    def pump(timeout):
        nonlocal seen
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        seen += data
        return True

    for text, keys in steps:
        deadline = time.monotonic() + 120
        while text.encode() not in seen:
            if time.monotonic() > deadline or not pump(1):
                sys.exit(f"type-into: {text!r} never appeared")
        seen = b""
        time.sleep(0.9)
        for key in keystrokes(keys.encode().decode("unicode_escape")):
            os.write(fd, key.encode())
            pump(0.18)
    while pump(30):
        pass
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
