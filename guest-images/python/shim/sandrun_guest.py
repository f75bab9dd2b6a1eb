"""sandrun's Python guest shim.

componentize-py imports this module while it builds the image and snapshots
the interpreter afterwards, so everything imported here is already loaded when
an invocation starts. Each invocation runs in a fresh instance of that
snapshot: `run` is called exactly once per instance.

The host sends one JSON request and receives one JSON response (the schema is
documented in runtime/src/protocol.rs). Every failure of the user's script is
reported inside the response; only the sandbox's limits (deadline, fuel,
memory) stop the guest from the outside.
"""

import ast
import builtins
import gc
import importlib
import importlib.util
import io
import tokenize
import types
from json import dumps as _dumps, loads as _loads
import os
import sys
import time
import traceback

import random

import wit_world
from componentize_py_types import Err as _WitErr

import sandrun

# The build machine's environment must not be baked into the snapshot.
os.environ.clear()

_SHIM_FILE = __file__
_BASE_SYS_PATH = list(sys.path)


class HandlerNotFound(Exception):
    """The handler named by the request does not exist or is not callable."""


class PayloadNotSerializable(Exception):
    """The handler returned a value that JSON cannot represent."""


class Context(dict):
    """The handler's `context`: a dict, as aws:executeScript passes it, that
    can also tell the time left before the deadline, as Lambda's does."""

    def __init__(self, values, deadline):
        super().__init__(values)
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _internal(filename):
    return filename == _SHIM_FILE or filename in (
        "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>"
    )


def _error(exc, type_name=None):
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [frame for frame in te.stack if not _internal(frame.filename)]
    )
    return {
        "type": type_name or type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(te.format()),
    }


def _prepare(request):
    """Gives this instance the invocation's environment, argv, folders and a
    fresh random state (the snapshot would otherwise repeat one sequence)."""
    os.environ.clear()
    os.environ.update(request.get("env") or {})
    sandrun._install(request.get("tools") or [], wit_world.call_tool, _WitErr)
    sys.argv = list(request.get("argv") or [""])
    script_dir = request["script_dir"]
    sys.path[:] = [script_dir] + _BASE_SYS_PATH
    os.chdir(request.get("cwd") or script_dir)
    random.seed()
    # Unbuffered text streams: output written before a limit stops the guest
    # has already reached the host.
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
        write_through=True, line_buffering=True,
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
        write_through=True, line_buffering=True,
    )
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")


def _load_file_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _find_handler(request):
    name = request["handler"]
    entry = request.get("entry")
    script_dir = request["script_dir"]
    if entry:
        stem = entry[:-3] if entry.endswith(".py") else entry
        func_name = name
        if "." in name:
            module_name, func_name = name.rsplit(".", 1)
            if module_name != stem:
                raise HandlerNotFound(
                    f"handler {name!r} names module {module_name!r}, but the script is "
                    f"{entry!r}: use {func_name!r} or '{stem}.{func_name}'"
                )
        module = _load_file_module(os.path.join(script_dir, entry), stem)
    else:
        if "." not in name:
            raise HandlerNotFound(
                f"handler {name!r} has no module: for a folder or a .zip, name it "
                f"as module.function, for example 'main.{name}'"
            )
        module_name, func_name = name.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                raise HandlerNotFound(
                    f"handler {name!r}: no module {module_name!r} in the script's folder"
                ) from None
            raise
    func = getattr(module, func_name, None)
    if func is None:
        raise HandlerNotFound(
            f"handler {name!r}: module {module.__name__!r} has no function {func_name!r}"
        )
    if not callable(func):
        raise HandlerNotFound(
            f"handler {name!r}: {func_name!r} is a {type(func).__name__}, not a function"
        )
    return func


def _not_serializable(value):
    raise PayloadNotSerializable(
        f"the handler returned a value of type {type(value).__name__!r}, which is not "
        "JSON-serialisable; return dicts, lists, strings, numbers, booleans or None"
    )


def _run_handler(request):
    context_values = request.get("context") or {}
    remaining_ms = context_values.get("remaining_time_ms", 0)
    context = Context(context_values, time.monotonic() + remaining_ms / 1000)
    try:
        func = _find_handler(request)
        result = func(request.get("event"), context)
    except HandlerNotFound as exc:
        return {"payload": None, "error": _error(exc), "exit_code": None}
    except BaseException as exc:  # noqa: BLE001 - everything the script raises is reported
        return {"payload": None, "error": _error(exc), "exit_code": _exit_code(exc)}
    try:
        payload = _dumps(
            result, ensure_ascii=False, separators=(",", ":"), default=_not_serializable
        )
    except PayloadNotSerializable as exc:
        return {"payload": None, "error": _error(exc), "exit_code": None}
    except (TypeError, ValueError, RecursionError) as exc:
        return {"payload": None, "error": _error(exc, "PayloadNotSerializable"), "exit_code": None}
    return {"payload": payload, "error": None, "exit_code": None}


def _exit_code(exc):
    if not isinstance(exc, SystemExit):
        return None
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _run_main(path):
    """Runs `path` as `__main__`, as `python3 path` does (runpy would rewrite
    sys.argv[0])."""
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    with tokenize.open(path) as source:
        code = compile(source.read(), path, "exec")
    exec(code, main.__dict__)


def _run_command(request):
    # Like python3, show the script's absolute path in tracebacks.
    path = os.path.join(request["script_dir"], request["argv"][0])
    try:
        _run_main(path)
    except SystemExit as exc:
        code = _exit_code(exc)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
        return {"payload": None, "error": None, "exit_code": code}
    except BaseException as exc:  # noqa: BLE001 - reported like python3 does, exit status 1
        error = _error(exc)
        sys.stderr.write(error["traceback"])
        return {"payload": None, "error": error, "exit_code": 1}
    return {"payload": None, "error": None, "exit_code": 0}


# A session's globals: one instance serves many exec calls, like a notebook
# kernel, so names and imports carry over from call to call.
_SESSION_GLOBALS = {"__name__": "__main__", "__builtins__": builtins}
_SESSION_PREPARED = False


def _run_exec(request):
    """Runs `code` in the session's globals; the value of a final expression
    is the payload, as a REPL echoes it."""
    try:
        tree = ast.parse(request.get("code") or "", "<session>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<session>", "exec"), _SESSION_GLOBALS)
        value = eval(compile(last, "<session>", "eval"), _SESSION_GLOBALS) if last else None
    except BaseException as exc:  # noqa: BLE001 - reported to the caller, the session goes on
        return {"payload": None, "error": _error(exc), "exit_code": _exit_code(exc)}
    try:
        _dumps(value, allow_nan=False)
        json_value = value
    except (TypeError, ValueError, RecursionError):
        json_value = None
    payload = {"value": json_value, "repr": None if value is None else repr(value)}
    return {"payload": _dumps(payload, ensure_ascii=False), "error": None, "exit_code": None}


class WitWorld(wit_world.WitWorld):
    def run(self, request: str) -> str:
        try:
            req = _loads(request)
            global _SESSION_PREPARED
            if req["mode"] != "exec" or not _SESSION_PREPARED:
                # A session's instance keeps its environment and streams:
                # later calls skip the set-up.
                _prepare(req)
                _SESSION_PREPARED = req["mode"] == "exec"
            if req["mode"] == "handler":
                response = _run_handler(req)
            elif req["mode"] == "exec":
                response = _run_exec(req)
            else:
                response = _run_command(req)
        except BaseException as exc:  # noqa: BLE001 - a shim fault is still an answer
            response = {"payload": None, "error": _error(exc, "GuestError"), "exit_code": None}
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - a closed stream must not lose the result
                pass
        try:
            return _dumps(response)
        except BaseException:  # noqa: BLE001 - the script broke what the answer needs
            return _FALLBACK_RESPONSE


_FALLBACK_RESPONSE = _dumps({
    "payload": None,
    "error": {"type": "GuestError", "message": "the script left the interpreter unable to "
              "encode its result (did it replace a built-in?)", "traceback": ""},
    "exit_code": None,
})


# The whole standard library is imported now, at build time, so that a
# script's `import csv` costs nothing per invocation: the snapshot holds the
# loaded modules (compiling csv.py from source in every fresh instance took
# about 15 ms). Modules left out here, or that fail to import now, are still
# imported on demand from the read-only mount of /python/lib/python3.14.
_NOT_PRELOADED = {
    "__main__", "antigravity", "this",  # side effects on import
    "idlelib", "tkinter", "turtle", "turtledemo",  # GUI, no display in a sandbox
}
for _name in sorted(sys.stdlib_module_names - _NOT_PRELOADED):
    try:
        importlib.import_module(_name)
    except BaseException:  # noqa: BLE001 - e.g. modules that need threads or a terminal
        pass
del _name
# Importing may have read the build machine's environment into os.environ.
os.environ.clear()

# Every folder it imports from is read-only, so don't try to write bytecode.
sys.dont_write_bytecode = True
# The path finders cached the folder listings seen at build time, when the
# standard library was not mounted yet; dropping them now (not per call,
# where freeing them dirties many snapshot pages) makes new finders look again.
sys.path_importer_cache.clear()

# Everything imported so far lives in the snapshot's memory, which every
# instance maps copy-on-write. Freezing it keeps the garbage collector from
# walking (and so touching and copying) those pages on every invocation.
gc.collect()
gc.freeze()
