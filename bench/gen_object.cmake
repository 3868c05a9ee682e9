# Writes a BPF C source for the benchmark:
#   -DKIND=functions -DN=<count>: one raw_tp program whose call tree (fan-out
#       4, each frame 16 bytes) has N functions;
#   -DKIND=progarray -DN=<targets>: N xdp programs in an initialised prog
#       array, each tail-calling through it with a variable slot, plus a
#       dispatcher.
#   -DOUT=<file.c>
set(src "#include \"common.h\"\n")
if(KIND STREQUAL "functions")
  # f_i calls f_{4i+1} .. f_{4i+4} that exist; declared in reverse order
  math(EXPR last "${N} - 1")
  foreach(i RANGE ${last} 1 -1)
    set(body "")
    foreach(k RANGE 1 4)
      math(EXPR c "4 * ${i} + ${k}")
      if(c LESS N)
        string(APPEND body " + f_${c}(x)")
      endif()
    endforeach()
    string(APPEND src "static __noinline int f_${i}(int x) { FRAME(16); return x${body} + TOUCH(); }\n")
  endforeach()
  set(body "")
  foreach(k RANGE 1 4)
    if(k LESS N)
      string(APPEND body " + f_${k}(x)")
    endif()
  endforeach()
  string(APPEND src "SEC(\"raw_tp/sys_enter\") int f_0(void *ctx) { int x = (long)ctx & 7; FRAME(16); return x${body} + TOUCH(); }\n")
else()
  math(EXPR last "${N} - 1")
  string(APPEND src "PROG_ARRAY(jmp, ${N});\n")
  foreach(i RANGE 0 ${last})
    string(APPEND src "SEC(\"xdp\") int t_${i}(struct xdp_md *ctx) { FRAME(32); bpf_tail_call(ctx, &jmp, ctx->ingress_ifindex); return TOUCH(); }\n")
  endforeach()
  string(APPEND src "SEC(\"xdp\") int dispatch(struct xdp_md *ctx) { FRAME(16); bpf_tail_call(ctx, &jmp, ctx->rx_queue_index); return TOUCH(); }\n")
endif()
file(WRITE ${OUT} "${src}")
