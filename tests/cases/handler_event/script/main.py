def tagInstance(events, context):
    instance = events["instanceId"]
    print(f"tagging {instance}")
    return {"instanceId": instance, "tagged": [f"{k}={v}" for k, v in events["tags"].items()]}
