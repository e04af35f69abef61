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
    """One object the stream builds that may still change (a list, a dict, a call's result):
    how deeply nested it is."""

    __slots__ = ("depth",)

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth


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
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "NONE", "NEWTRUE", "NEWFALSE",
    "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT", "GLOBAL",
    "EXT1", "EXT2", "EXT4", "PERSID", "NEXT_BUFFER",
}
# What each opcode does to the stack, as a small number (one dict lookup per opcode).
(_SCALAR, _MUTABLE, _EMPTY_TUPLE, _MARK_OP, _TUPLE_FROM_MARK, _MUTABLE_FROM_MARK, _TUPLE_N,
 _STACK_GLOBAL, _INTO_TOP_1, _INTO_TOP_2, _INTO_TOP_MARK, _BUILD, _CALL, _BINPERSID, _PUT, _GET,
 _DUP, _POP, _POP_MARK, _NOTHING, _STOP, _CALL_EX) = range(22)
_KIND: dict[str, int] = {name: _SCALAR for name in _SCALARS}
_KIND.update({
    "BYTEARRAY8": _MUTABLE, "EMPTY_LIST": _MUTABLE, "EMPTY_DICT": _MUTABLE, "EMPTY_SET": _MUTABLE,
    "EMPTY_TUPLE": _EMPTY_TUPLE, "MARK": _MARK_OP, "TUPLE": _TUPLE_FROM_MARK,
    "FROZENSET": _TUPLE_FROM_MARK, "LIST": _MUTABLE_FROM_MARK, "DICT": _MUTABLE_FROM_MARK,
    "INST": _MUTABLE_FROM_MARK, "OBJ": _MUTABLE_FROM_MARK, "TUPLE1": _TUPLE_N, "TUPLE2": _TUPLE_N,
    "TUPLE3": _TUPLE_N, "STACK_GLOBAL": _STACK_GLOBAL, "APPEND": _INTO_TOP_1,
    "SETITEM": _INTO_TOP_2, "APPENDS": _INTO_TOP_MARK, "SETITEMS": _INTO_TOP_MARK,
    "ADDITEMS": _INTO_TOP_MARK, "BUILD": _BUILD, "REDUCE": _CALL, "NEWOBJ": _CALL,
    "NEWOBJ_EX": _CALL_EX, "BINPERSID": _BINPERSID, "PUT": _PUT, "BINPUT": _PUT,
    "LONG_BINPUT": _PUT, "MEMOIZE": _PUT, "GET": _GET, "BINGET": _GET, "LONG_BINGET": _GET,
    "DUP": _DUP, "POP": _POP, "POP_MARK": _POP_MARK, "READONLY_BUFFER": _NOTHING,
    "PROTO": _NOTHING, "FRAME": _NOTHING, "STOP": _STOP,
})
_TABLE: dict[int, tuple[str, object, int]] = {
    code: (name, how, _KIND[name]) for code, (name, how) in _OPCODES.items()
}
_DEEP = f"objects nested more than {MAX_DEPTH} deep"


def _depth(item: object) -> int:
    return item if type(item) is int else item.depth  # type: ignore[union-attr]


def scan_pickle(data: bytes | mmap.mmap, start: int = 0) -> int:
    """Check the pickle starting at ``data[start]``; return the offset just past its STOP.

    Raises :class:`UnsafePickle` for a stream nested deeper than :data:`MAX_DEPTH`, an
    implausible memo index, a length beyond the data, an unknown opcode or a missing STOP.

    The stack holds, for every object, its nesting depth: an ``int`` for an object that cannot
    change once built, a :class:`_Node` (shared with the memo) for one that can.
    """
    view = memoryview(data)
    end = len(view)
    pos = start
    stack: list[object] = []
    marks: list[int] = []
    memo: dict[int, object] = {}
    memo_limit = end - start  # a stream of n bytes fills fewer than n memo slots
    unpack = struct.unpack_from
    table = _TABLE
    try:
        while True:
            if pos >= end:
                raise UnsafePickle("the pickle ends before its STOP opcode")
            code = view[pos]
            pos += 1
            entry = table.get(code)
            if entry is None:
                raise UnsafePickle(f"unknown opcode 0x{code:02x} at byte {pos - 1}")
            name, how, kind = entry
            arg = None
            if how.__class__ is int:
                if pos + how > end:  # type: ignore[operator]
                    raise UnsafePickle("the pickle is truncated")
                if how == 1 and (kind == _PUT or kind == _GET):
                    arg = view[pos]
                elif how == 4 and (kind == _PUT or kind == _GET):
                    arg = unpack("<I", view, pos)[0]
                pos += how  # type: ignore[operator]
            elif how.__class__ is tuple:
                fmt, size = how  # type: ignore[misc]
                if pos + size > end:
                    raise UnsafePickle("the pickle is truncated")
                length = unpack(fmt, view, pos)[0]
                if length < 0 or pos + size + length > end:
                    raise UnsafePickle(f"{name} declares {length} bytes beyond the end of the data")
                pos += size + length
            else:  # one or two newline-terminated lines
                for _ in range(2 if how == "lines2" else 1):
                    newline = data.find(b"\n", pos, end)
                    if newline < 0:
                        raise UnsafePickle(f"{name} has no end of line")
                    if kind == _PUT or kind == _GET:
                        text = bytes(view[pos:newline]).strip()
                        arg = int(text) if text.isdigit() and len(text) < 12 else -1
                    pos = newline + 1

            if kind == _SCALAR:
                stack.append(0)
            elif kind == _PUT:
                index = len(memo) if name == "MEMOIZE" else arg
                if index is None or index < 0 or index > memo_limit:
                    raise UnsafePickle(f"memo index {index} is out of range")
                if not stack or (marks and marks[-1] == len(stack)):
                    raise UnsafePickle("nothing to memoize")
                memo[index] = stack[-1]
            elif kind == _GET:
                if arg not in memo:
                    raise UnsafePickle(f"memo index {arg} was never set")
                stack.append(memo[arg])
            elif kind == _MARK_OP:
                marks.append(len(stack))
            elif kind == _TUPLE_FROM_MARK or kind == _MUTABLE_FROM_MARK:
                at = marks.pop()
                depth = 1 + max(map(_depth, stack[at:]), default=0)
                del stack[at:]
                if depth > MAX_DEPTH:
                    raise UnsafePickle(_DEEP)
                stack.append(depth if kind == _TUPLE_FROM_MARK else _Node(depth))
            elif kind == _TUPLE_N:
                count = int(name[-1])
                if len(stack) < count:
                    raise UnsafePickle("the stack is empty")
                depth = 1 + max(map(_depth, stack[-count:]))
                del stack[-count:]
                if depth > MAX_DEPTH:
                    raise UnsafePickle(_DEEP)
                stack.append(depth)
            elif kind == _MUTABLE:
                stack.append(_Node(1))
            elif kind == _EMPTY_TUPLE:
                stack.append(1)
            elif kind == _INTO_TOP_1 or kind == _INTO_TOP_2 or kind == _INTO_TOP_MARK or \
                    kind == _BUILD:
                if kind == _INTO_TOP_MARK:
                    at = marks.pop()
                    items = stack[at:]
                    del stack[at:]
                else:
                    count = 2 if kind == _INTO_TOP_2 else 1
                    if len(stack) < count + 1:
                        raise UnsafePickle("the stack is empty")
                    items = stack[-count:]
                    del stack[-count:]
                if not stack:
                    raise UnsafePickle("an opcode has no object to work on")
                top = stack[-1]
                depth = 1 + max(map(_depth, items), default=0)
                if top.__class__ is _Node:
                    if depth > top.depth:  # type: ignore[union-attr]
                        if depth > MAX_DEPTH:
                            raise UnsafePickle(_DEEP)
                        top.depth = depth  # type: ignore[union-attr]
                elif depth > top:  # type: ignore[operator]
                    # Mutating an immutable object fails in the unpickler; count it anyway.
                    if depth > MAX_DEPTH:
                        raise UnsafePickle(_DEEP)
                    stack[-1] = depth
            elif kind == _CALL or kind == _CALL_EX:
                count = 3 if kind == _CALL_EX else 2
                if len(stack) < count:
                    raise UnsafePickle("the stack is empty")
                # A call result nests no deeper than its arguments; it may be mutable.
                depth = max(map(_depth, stack[-count:]))
                del stack[-count:]
                stack.append(_Node(depth))
            elif kind == _STACK_GLOBAL:
                if len(stack) < 2:
                    raise UnsafePickle("the stack is empty")
                del stack[-2:]
                stack.append(0)
            elif kind == _BINPERSID:
                stack[-1] = _Node(_depth(stack[-1]))
            elif kind == _DUP:
                stack.append(stack[-1])
            elif kind == _POP:
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    stack.pop()
            elif kind == _POP_MARK:
                del stack[marks.pop():]
            elif kind == _STOP:
                return pos
            # _NOTHING: PROTO, FRAME, READONLY_BUFFER
    except IndexError:  # a pop from an empty stack or mark list
        raise UnsafePickle("an opcode finds the stack empty or no MARK") from None
    finally:
        view.release()  # a mapping cannot close while a view of it is alive
