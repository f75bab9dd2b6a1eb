"""What sandrun gives the scripts it runs.

    from sandrun import tools
    tools.lookup(city="Paris")     # a function the host registered
    help(tools)                    # their names, descriptions and arguments

A tool takes keyword arguments (JSON values) and returns JSON. The host checks
the arguments against the tool's JSON Schema before it runs; a refusal or a
failure raises ToolError with a message that is safe to show.
"""

import json as _json


class ToolError(Exception):
    """A host tool refused the call or failed; the message says why."""


class _NoTools:
    """No host tools are registered for this run."""

    def __getattr__(self, name):
        raise AttributeError(f"no host tool {name!r}: none are registered for this run")


tools = _NoTools()


def _install(specs, call, err_type):
    """Called by the sandrun shim before the script runs."""
    global tools
    if not specs:
        tools = _NoTools()
        return
    lines = ["Host tools for this run (call them with keyword arguments):", ""]
    namespace = {}
    for spec in specs:
        name = spec["name"]
        schema = spec.get("parameters") or {}
        required = set(schema.get("required") or [])
        arguments = ", ".join(
            f"{key}: {prop.get('type', 'any')}" + ("" if key in required else " = ...")
            for key, prop in (schema.get("properties") or {}).items()
        )
        lines.append(f"  {name}({arguments}): {spec.get('description', '')}")

        def make(name):
            def tool(**kwargs):
                try:
                    return _json.loads(call(name, _json.dumps(kwargs)))
                except err_type as error:
                    raise ToolError(error.value) from None

            return tool

        function = make(name)
        function.__name__ = name
        function.__qualname__ = f"tools.{name}"
        function.__doc__ = f"{spec.get('description', '')}\n\nArguments: {arguments or 'none'}"
        namespace[name] = staticmethod(function)
    names = ", ".join(spec["name"] for spec in specs)

    def missing(self, name):
        raise AttributeError(f"no host tool {name!r}; the tools are: {names}")

    namespace["__getattr__"] = missing
    namespace["__doc__"] = "\n".join(lines)
    namespace["__repr__"] = lambda self: "<sandrun tools: " + ", ".join(s["name"] for s in specs) + ">"
    tools = type("tools", (), namespace)()
