"""A linear pass over a pickle's opcodes, before any unpickler sees them.

CPython's unpickler trusts three things in a stream that a hostile file controls, and each one
crashes or exhausts the process before any allowed global is called:

* **nesting**: a dict key that is a tuple nested 300,000 deep is hashed by recursion in C, with no
  recursion check: SIGSEGV from a 300 KB file;
* **memo indices**: ``LONG_BINPUT 0xFFFFFFFF`` makes the unpickler grow its memo table to that
  index (tens of GB) from a 7-byte file;
* **declared lengths**: ``BINBYTES8`` / ``BINUNICODE8`` lengths beyond the end of the stream.

This pass reads opcode arguments by their declared sizes (never decoding string payloads, so its
cost is per opcode, not per byte) and tracks, for every stack and memo entry, how deep the object
it stands for is nested. Mutable containers are tracked by identity, so an ``APPEND`` through a
memo reference deepens every place that holds the list. It refuses a stream that nests deeper than
:data:`MAX_DEPTH`, names a memo index beyond what the stream could fill, or declares an argument
longer than what is left. The objects the unpickler then builds are checked again, exactly, by
:func:`actionzoo.fileio.unpickle.check_structure`.
"""

from __future__ import annotations

import mmap
import pickle
import pickletools
import struct

__all__ = ["MAX_DEPTH", "UnsafePickle", "scan_pickle"]

#: Containers nested deeper than this are refused (official checkpoints nest fewer than 10 deep).
MAX_DEPTH = 100


class UnsafePickle(pickle.UnpicklingError):
    """The stream is malformed in a way that could crash or exhaust the process."""


class _Node:
    """One object the stream builds: how deeply nested it is."""

    __slots__ = ("depth",)

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth


_MARK = object()
# opcode byte -> (name, how its argument is read): a fixed size, or a length prefix of n bytes.
_FIXED = {
    pickletools.UP_TO_NEWLINE: None,
    pickletools.TAKEN_FROM_ARGUMENT1: ("<B", 1),
    pickletools.TAKEN_FROM_ARGUMENT4: ("<i", 4),
    pickletools.TAKEN_FROM_ARGUMENT4U: ("<I", 4),
    pickletools.TAKEN_FROM_ARGUMENT8U: ("<Q", 8),
}
_OPCODES: dict[int, tuple[str, object]] = {}
for _op in pickletools.opcodes:
    _arg = _op.arg
    if _arg is None:
        _how: object = 0
    elif _arg.n >= 0:
        _how = _arg.n
    elif _arg.n == pickletools.UP_TO_NEWLINE:
        # STRING, UNICODE and friends: one line; GLOBAL and INST: two lines.
        _how = "lines2" if _op.name in ("GLOBAL", "INST") else "line"
    else:
        _how = _FIXED[_arg.n]
    _OPCODES[ord(_op.code)] = (_op.name, _how)

_SCALARS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "NONE",
    "NEWTRUE", "NEWFALSE", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT",
    "BINFLOAT", "GLOBAL", "EXT1", "EXT2", "EXT4", "PERSID", "NEXT_BUFFER",
}
_EMPTY = {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"}
_FROM_MARK = {"TUPLE", "LIST", "DICT", "FROZENSET", "INST", "OBJ"}
_INTO_TOP = {"APPENDS", "SETITEMS", "ADDITEMS"}


def scan_pickle(data: bytes | mmap.mmap, start: int = 0) -> int:
    """Check the pickle starting at ``data[start]``; return the offset just past its STOP.

    Raises :class:`UnsafePickle` for a stream nested deeper than :data:`MAX_DEPTH`, an
    implausible memo index, a length beyond the data, an unknown opcode or a missing STOP.
    """
    view = memoryview(data)
    end = len(view)
    pos = start
    stack: list[object] = []
    memo: dict[int, object] = {}
    memo_limit = end - start  # a stream of n bytes fills fewer than n memo slots

    def pop_mark() -> list[object]:
        items: list[object] = []
        while stack:
            item = stack.pop()
            if item is _MARK:
                return items
            items.append(item)
        raise UnsafePickle("a MARK is missing")

    def deepest(items: list[object]) -> int:
        return max((i.depth for i in items if isinstance(i, _Node)), default=0)

    def push(depth: int) -> None:
        if depth > MAX_DEPTH:
            raise UnsafePickle(f"objects nested more than {MAX_DEPTH} deep")
        stack.append(_Node(depth))

    def top() -> _Node:
        if not stack or not isinstance(stack[-1], _Node):
            raise UnsafePickle("an opcode has no object to work on")
        return stack[-1]  # type: ignore[return-value]

    def deepen(node: _Node, depth: int) -> None:
        if depth > node.depth:
            if depth > MAX_DEPTH:
                raise UnsafePickle(f"objects nested more than {MAX_DEPTH} deep")
            node.depth = depth

    def pop() -> object:
        if not stack:
            raise UnsafePickle("the stack is empty")
        return stack.pop()

    while True:
        if pos >= end:
            raise UnsafePickle("the pickle ends before its STOP opcode")
        code = view[pos]
        pos += 1
        entry = _OPCODES.get(code)
        if entry is None:
            raise UnsafePickle(f"unknown opcode 0x{code:02x} at byte {pos - 1}")
        name, how = entry
        arg: int | None = None
        if isinstance(how, int):
            if pos + how > end:
                raise UnsafePickle("the pickle is truncated")
            if name in ("BINPUT", "BINGET", "EXT1"):
                arg = view[pos]
            elif name in ("LONG_BINPUT", "LONG_BINGET", "EXT4"):
                arg = struct.unpack_from("<I", view, pos)[0]
            pos += how
        elif isinstance(how, tuple):
            fmt, size = how
            if pos + size > end:
                raise UnsafePickle("the pickle is truncated")
            length = struct.unpack_from(fmt, view, pos)[0]
            if length < 0 or pos + size + length > end:
                raise UnsafePickle(f"{name} declares {length} bytes beyond the end of the data")
            pos += size + length
        else:  # one or two newline-terminated lines
            for _ in range(2 if how == "lines2" else 1):
                newline = data.find(b"\n", pos, end)
                if newline < 0:
                    raise UnsafePickle(f"{name} has no end of line")
                if name in ("PUT", "GET"):
                    text = bytes(view[pos:newline]).strip()
                    arg = int(text) if text.isdigit() and len(text) < 12 else -1
                pos = newline + 1

        if name in _SCALARS:
            stack.append(_Node())
        elif name in _EMPTY:
            stack.append(_Node(1))
        elif name == "EMPTY_TUPLE":
            stack.append(_Node(1))
        elif name == "MARK":
            stack.append(_MARK)
        elif name in _FROM_MARK:
            items = pop_mark()
            if name == "OBJ" and not items:
                raise UnsafePickle("OBJ without a class")
            push(1 + deepest(items))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            count = int(name[-1])
            items = [pop() for _ in range(count)]
            push(1 + deepest(items))
        elif name == "STACK_GLOBAL":
            pop(), pop()
            stack.append(_Node())
        elif name in ("APPEND", "SETITEM"):
            items = [pop() for _ in range(1 if name == "APPEND" else 2)]
            deepen(top(), 1 + deepest(items))
        elif name in _INTO_TOP:
            items = pop_mark()
            deepen(top(), 1 + deepest(items))
        elif name == "BUILD":
            state = pop()
            deepen(top(), 1 + deepest([state]))
        elif name in ("REDUCE", "NEWOBJ", "NEWOBJ_EX"):
            items = [pop() for _ in range({"REDUCE": 2, "NEWOBJ": 2}.get(name, 3))]
            push(deepest(items))  # a call result nests no deeper than its arguments
        elif name == "BINPERSID":
            push(deepest([pop()]))
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            index = len(memo) if name == "MEMOIZE" else arg
            if index is None or index < 0 or index > memo_limit:
                raise UnsafePickle(f"memo index {index} is out of range")
            if not stack or stack[-1] is _MARK:
                raise UnsafePickle("nothing to memoize")
            memo[index] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise UnsafePickle(f"memo index {arg} was never set")
            stack.append(memo[arg])
        elif name == "DUP":
            stack.append(top())
        elif name == "POP":
            pop()
        elif name == "POP_MARK":
            pop_mark()
        elif name == "READONLY_BUFFER":
            top()
        elif name in ("PROTO", "FRAME"):
            pass
        elif name == "STOP":
            return pos
        else:  # pragma: no cover - every opcode of pickletools is handled above
            raise UnsafePickle(f"unhandled opcode {name}")
