# What the CUDA driver API shows a program started with this environment: count, UUIDs, names,
# and cuMemGetInfo's free/total (what llama-server's --fit sees). Prints one JSON line.
import ctypes, json, sys
try:
    cu = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
def check(r, what):
    if r != 0:
        s = ctypes.c_char_p(); cu.cuGetErrorString(r, ctypes.byref(s))
        raise RuntimeError(f"{what}: {r} {s.value}")
out = {}
try:
    check(cu.cuInit(0), "cuInit")
    n = ctypes.c_int(); check(cu.cuDeviceGetCount(ctypes.byref(n)), "cuDeviceGetCount")
    out["count"] = n.value; out["devices"] = []
    for i in range(n.value):
        d = ctypes.c_int(); check(cu.cuDeviceGet(ctypes.byref(d), i), "cuDeviceGet")
        u = (ctypes.c_ubyte * 16)(); check(cu.cuDeviceGetUuid_v2(u, d), "cuDeviceGetUuid")
        h = bytes(u).hex(); uuid = f"GPU-{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        name = ctypes.create_string_buffer(256); check(cu.cuDeviceGetName(name, 256, d), "cuDeviceGetName")
        tot = ctypes.c_size_t(); check(cu.cuDeviceTotalMem_v2(ctypes.byref(tot), d), "cuDeviceTotalMem")
        dev = {"index": i, "uuid": uuid, "name": name.value.decode(), "total": tot.value}
        if "--mem" in sys.argv:
            ctx = ctypes.c_void_p(); check(cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), d), "ctx")
            check(cu.cuCtxSetCurrent(ctx), "setcurrent")
            f, t = ctypes.c_size_t(), ctypes.c_size_t(); check(cu.cuMemGetInfo_v2(ctypes.byref(f), ctypes.byref(t)), "cuMemGetInfo")
            dev["meminfo_free"], dev["meminfo_total"] = f.value, t.value
        out["devices"].append(dev)
except Exception as e:
    out["error"] = str(e)
print(json.dumps(out))
