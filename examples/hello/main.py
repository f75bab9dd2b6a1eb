"""The example handler of the README: greets, counts, and shows what it may see."""

import os


def handler(events, context):
    name = events.get("name", "world")
    print(f"hello from the sandbox, {name}")
    return {
        "greeting": f"Hello, {name}!",
        "letters": len(name),
        "invocation": context["invocation_id"],
        "cwd": os.getcwd(),
        "files": sorted(os.listdir(".")),
    }
