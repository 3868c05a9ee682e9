"""libbpf's subprog order per program, read from a BPF ELF object (standard library only).

libbpf links each program by appending every subprog it reaches, depth first, in the order of
the call / ld_imm64-of-a-function instructions (bpf_object__reloc_code); the kernel numbers
subprogs by start offset, so this order is the order of the `stack depth A+B+C` line.
"""
import struct

SHT_SYMTAB, SHT_REL, SHF_EXECINSTR = 2, 9, 0x4
STT_FUNC, STT_SECTION = 2, 3


def _sections(d):
    shoff, = struct.unpack_from("<Q", d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
    secs = []
    for i in range(shnum):
        name, typ, flags, addr, off, size, link, info, align, entsize = \
            struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
        secs.append(dict(name_off=name, type=typ, flags=flags, off=off, size=size, link=link, info=info))
    stro = secs[shstrndx]["off"]
    for s in secs:
        s["name"] = _cstr(d, stro + s["name_off"])
    return secs


def _cstr(d, o):
    return d[o:d.index(b"\0", o)].decode()


def programs_order(path):
    """{program name: [function names in libbpf's appended order, main first]}"""
    d = open(path, "rb").read()
    secs = _sections(d)
    symtab = next(i for i, s in enumerate(secs) if s["type"] == SHT_SYMTAB)
    st = secs[symtab]
    strtab = secs[st["link"]]["off"]
    syms = []
    for i in range(st["size"] // 24):
        name, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", d, st["off"] + i * 24)
        syms.append(dict(name=_cstr(d, strtab + name), type=info & 0xF, bind=info >> 4,
                         shndx=shndx, value=value, size=size))
    funcs = {}  # shndx -> sorted [(start_insn, end_insn, name)]
    for s in syms:
        if s["type"] == STT_FUNC and 0 < s["shndx"] < len(secs) and secs[s["shndx"]]["flags"] & SHF_EXECINSTR:
            funcs.setdefault(s["shndx"], []).append((s["value"] // 8, (s["value"] + s["size"]) // 8, s["name"]))
    for v in funcs.values():
        v.sort()
    relos = {}  # (shndx, insn) -> sym
    for s in secs:
        if s["type"] == SHT_REL and s["link"] == symtab and secs[s["info"]]["flags"] & SHF_EXECINSTR:
            for j in range(s["size"] // 16):
                off, info = struct.unpack_from("<QQ", d, s["off"] + j * 16)
                relos[(s["info"], off // 8)] = syms[info >> 32]

    def find(shndx, insn):
        for a, b, n in funcs.get(shndx, []):
            if a <= insn < max(b, a + 1):
                return (shndx, a, b, n)
        return None

    def callees(fn):
        shndx, a, b, name = fn
        sec = secs[shndx]
        out = []
        i = a
        while i < b:
            code, regs, off, imm = struct.unpack_from("<BBhi", d, sec["off"] + i * 8)
            src = regs >> 4
            if code == 0x85 and src == 1:  # BPF-to-BPF call
                r = relos.get((shndx, i))
                if r is not None:
                    if r["type"] == STT_SECTION:
                        t = find(r["shndx"], r["value"] // 8 + imm + 1)
                    else:
                        t = find(r["shndx"], r["value"] // 8 + imm + 1)
                else:
                    t = find(shndx, i + imm + 1)
                if t:
                    out.append(t)
            elif code == 0x18:  # ld_imm64
                r = relos.get((shndx, i))
                if r is not None and 0 < r["shndx"] < len(secs) and secs[r["shndx"]]["flags"] & SHF_EXECINSTR:
                    t = find(r["shndx"], (r["value"] + imm) // 8)
                    if t:
                        out.append(t)
                i += 1
            i += 1
        return out

    result = {}
    for shndx, fl in funcs.items():
        if secs[shndx]["name"] == ".text":
            continue
        for fn in fl:
            fn = (shndx,) + fn
            order, seen = [], set()

            def dfs(f):
                for c in callees(f):
                    if c not in seen:
                        seen.add(c)
                        order.append(c[3])
                        dfs(c)
            seen.add(fn)
            order.append(fn[3])
            dfs(fn)
            result[fn[3]] = order
    return result


if __name__ == "__main__":
    import sys, json
    print(json.dumps(programs_order(sys.argv[1]), indent=1))
