// Program types from SEC() names, as libbpf's section_defs map them, and
// names for map types and helpers.
#include "frontend/internal.h"

#include <cstring>

namespace pstack {

namespace {
struct SecDef {
  const char *prefix;
  ProgType type;
};
// Order matters where one prefix extends another only without '/'.
const SecDef kSecDefs[] = {
    {"socket", ProgType::SocketFilter},
    {"sk_reuseport", ProgType::SkReuseport},
    {"kprobe", ProgType::Kprobe}, {"uprobe", ProgType::Kprobe},
    {"uprobe.s", ProgType::Kprobe}, {"kretprobe", ProgType::Kprobe},
    {"uretprobe", ProgType::Kprobe}, {"uretprobe.s", ProgType::Kprobe},
    {"kprobe.multi", ProgType::Kprobe}, {"kretprobe.multi", ProgType::Kprobe},
    {"kprobe.session", ProgType::Kprobe}, {"uprobe.multi", ProgType::Kprobe},
    {"uretprobe.multi", ProgType::Kprobe}, {"uprobe.session", ProgType::Kprobe},
    {"ksyscall", ProgType::Kprobe}, {"kretsyscall", ProgType::Kprobe},
    {"usdt", ProgType::Kprobe},
    {"tc", ProgType::SchedCls}, {"tcx", ProgType::SchedCls},
    {"netkit", ProgType::SchedCls}, {"classifier", ProgType::SchedCls},
    {"action", ProgType::SchedAct},
    {"tracepoint", ProgType::Tracepoint}, {"tp", ProgType::Tracepoint},
    {"raw_tracepoint", ProgType::RawTracepoint}, {"raw_tp", ProgType::RawTracepoint},
    // writable raw tracepoints are a program type of their own
    {"raw_tracepoint.w", ProgType::RawTracepointWritable},
    {"raw_tp.w", ProgType::RawTracepointWritable},
    {"tp_btf", ProgType::Tracing}, {"fentry", ProgType::Tracing},
    {"fmod_ret", ProgType::Tracing}, {"fexit", ProgType::Tracing},
    {"fentry.s", ProgType::Tracing}, {"fmod_ret.s", ProgType::Tracing},
    {"fexit.s", ProgType::Tracing},
    // tracing programs attached as BPF_TRACE_ITER: never a private stack
    {"iter", ProgType::Iter}, {"iter.s", ProgType::Iter},
    {"freplace", ProgType::Ext},
    {"lsm", ProgType::Lsm}, {"lsm.s", ProgType::Lsm}, {"lsm_cgroup", ProgType::Lsm},
    {"syscall", ProgType::Syscall},
    {"xdp", ProgType::Xdp}, {"xdp.frags", ProgType::Xdp},
    {"perf_event", ProgType::PerfEvent},
    {"lwt_in", ProgType::LwtIn}, {"lwt_out", ProgType::LwtOut},
    {"lwt_xmit", ProgType::LwtXmit}, {"lwt_seg6local", ProgType::LwtSeg6local},
    {"sockops", ProgType::SockOps},
    {"sk_skb", ProgType::SkSkb}, {"sk_msg", ProgType::SkMsg},
    {"lirc_mode2", ProgType::LircMode2}, {"flow_dissector", ProgType::FlowDissector},
    {"cgroup_skb", ProgType::CgroupSkb}, {"cgroup/skb", ProgType::CgroupSkb},
    {"cgroup/sock_create", ProgType::CgroupSock}, {"cgroup/sock_release", ProgType::CgroupSock},
    {"cgroup/sock", ProgType::CgroupSock}, {"cgroup/post_bind4", ProgType::CgroupSock},
    {"cgroup/post_bind6", ProgType::CgroupSock},
    {"cgroup/dev", ProgType::CgroupDevice},
    {"cgroup/bind4", ProgType::CgroupSockAddr}, {"cgroup/bind6", ProgType::CgroupSockAddr},
    {"cgroup/connect4", ProgType::CgroupSockAddr}, {"cgroup/connect6", ProgType::CgroupSockAddr},
    {"cgroup/connect_unix", ProgType::CgroupSockAddr},
    {"cgroup/sendmsg4", ProgType::CgroupSockAddr}, {"cgroup/sendmsg6", ProgType::CgroupSockAddr},
    {"cgroup/sendmsg_unix", ProgType::CgroupSockAddr},
    {"cgroup/recvmsg4", ProgType::CgroupSockAddr}, {"cgroup/recvmsg6", ProgType::CgroupSockAddr},
    {"cgroup/recvmsg_unix", ProgType::CgroupSockAddr},
    {"cgroup/getpeername4", ProgType::CgroupSockAddr},
    {"cgroup/getpeername6", ProgType::CgroupSockAddr},
    {"cgroup/getsockname4", ProgType::CgroupSockAddr},
    {"cgroup/getsockname6", ProgType::CgroupSockAddr},
    {"cgroup/sysctl", ProgType::CgroupSysctl},
    {"cgroup/getsockopt", ProgType::CgroupSockopt}, {"cgroup/setsockopt", ProgType::CgroupSockopt},
    {"struct_ops", ProgType::StructOps}, {"struct_ops.s", ProgType::StructOps},
    {"sk_lookup", ProgType::SkLookup}, {"netfilter", ProgType::Netfilter},
};
} // namespace

ProgType progTypeFromSection(const std::string &sec) {
  // libbpf: "name" matches exactly or as "name/..."; longest match wins.
  const SecDef *best = nullptr;
  size_t bestLen = 0;
  for (const auto &d : kSecDefs) {
    size_t n = std::strlen(d.prefix);
    if (sec.compare(0, n, d.prefix) == 0 && (sec.size() == n || sec[n] == '/') && n > bestLen) {
      best = &d;
      bestLen = n;
    }
  }
  if (best)
    return best->type;
  // Pre-1.0 loaders (samples/bpf's bpf_load.c, iproute2) matched these bare
  // prefixes: "socket1", "xdp_prog", ... Keep that for old objects.
  static const SecDef legacy[] = {
      {"socket", ProgType::SocketFilter}, {"xdp", ProgType::Xdp},
      {"perf_event", ProgType::PerfEvent}, {"sockops", ProgType::SockOps},
      {"sk_skb", ProgType::SkSkb}, {"sk_msg", ProgType::SkMsg},
      {"cgroup/skb", ProgType::CgroupSkb}, {"cgroup/sock", ProgType::CgroupSock},
      {"classifier", ProgType::SchedCls}, {"action", ProgType::SchedAct},
      {"lwt_in", ProgType::LwtIn}, {"lwt_out", ProgType::LwtOut}, {"lwt_xmit", ProgType::LwtXmit}};
  for (const auto &d : legacy)
    if (sec.compare(0, std::strlen(d.prefix), d.prefix) == 0)
      return d.type;
  return ProgType::Unknown;
}

const char *progTypeName(ProgType t) {
  switch (t) {
  case ProgType::Unknown: return "unknown";
  case ProgType::SocketFilter: return "socket_filter";
  case ProgType::Kprobe: return "kprobe";
  case ProgType::Tracepoint: return "tracepoint";
  case ProgType::RawTracepoint: return "raw_tracepoint";
  case ProgType::RawTracepointWritable: return "raw_tracepoint_writable";
  case ProgType::Tracing: return "tracing";
  case ProgType::Lsm: return "lsm";
  case ProgType::StructOps: return "struct_ops";
  case ProgType::PerfEvent: return "perf_event";
  case ProgType::Xdp: return "xdp";
  case ProgType::SchedCls: return "sched_cls";
  case ProgType::SchedAct: return "sched_act";
  case ProgType::CgroupSkb: return "cgroup_skb";
  case ProgType::CgroupSock: return "cgroup_sock";
  case ProgType::CgroupSockAddr: return "cgroup_sock_addr";
  case ProgType::CgroupSockopt: return "cgroup_sockopt";
  case ProgType::CgroupSysctl: return "cgroup_sysctl";
  case ProgType::CgroupDevice: return "cgroup_device";
  case ProgType::SockOps: return "sock_ops";
  case ProgType::SkSkb: return "sk_skb";
  case ProgType::SkMsg: return "sk_msg";
  case ProgType::SkLookup: return "sk_lookup";
  case ProgType::SkReuseport: return "sk_reuseport";
  case ProgType::LwtIn: return "lwt_in";
  case ProgType::LwtOut: return "lwt_out";
  case ProgType::LwtXmit: return "lwt_xmit";
  case ProgType::LwtSeg6local: return "lwt_seg6local";
  case ProgType::FlowDissector: return "flow_dissector";
  case ProgType::LircMode2: return "lirc_mode2";
  case ProgType::Syscall: return "syscall";
  case ProgType::Netfilter: return "netfilter";
  case ProgType::Ext: return "ext";
  case ProgType::Iter: return "iter";
  }
  return "unknown";
}

const char *mapTypeName(uint32_t type) {
  static const char *names[] = {
      "unspec", "hash", "array", "prog_array", "perf_event_array", "percpu_hash",
      "percpu_array", "stack_trace", "cgroup_array", "lru_hash", "lru_percpu_hash",
      "lpm_trie", "array_of_maps", "hash_of_maps", "devmap", "sockmap", "cpumap",
      "xskmap", "sockhash", "cgroup_storage", "reuseport_sockarray",
      "percpu_cgroup_storage", "queue", "stack", "sk_storage", "devmap_hash",
      "struct_ops", "ringbuf", "inode_storage", "task_storage", "bloom_filter",
      "user_ringbuf", "cgrp_storage", "arena"};
  return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

namespace detail {
namespace {
struct HelperRow {
  int32_t id;
  const char *name;
  int nargs;
};
const HelperRow kHelpers[] = {
#include "helper_names.inc"
};
const HelperRow *findHelper(int32_t id) {
  for (const auto &h : kHelpers)
    if (h.id == id)
      return &h;
  return nullptr;
}
} // namespace

const char *helperName(int32_t id) {
  const HelperRow *h = findHelper(id);
  return h ? h->name : nullptr;
}

int helperArgs(int32_t id) {
  const HelperRow *h = findHelper(id);
  return h ? h->nargs : 5;
}
} // namespace detail

const char *bpfHelperName(int32_t id) { return detail::helperName(id); }

} // namespace pstack
