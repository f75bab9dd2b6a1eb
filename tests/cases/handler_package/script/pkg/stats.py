from . import total

def summary(values):
    return {"sorted": sorted(values), "total": total(values)}
