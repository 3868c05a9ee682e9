// Environment files (--env): what the object cannot say. Errors name the key.
#include "model/model.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace pstack {

Environment loadEnvironment(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw InputError(path, "", "cannot open environment file");
  std::stringstream text;
  text << in.rdbuf();
  return parseEnvironment(path, text.str());
}

namespace {
// "stack_switch": {"link_bytes": 16, "frame_overhead": 56, "irq_headroom": 168,
//                  "helpers": "on_buffer"|"task_stack", "helper_reserve": 1024,
//                  "helper_reserve_by_name": {"bpf_map_lookup_elem": 128, ...}}
template <class Bad> StackSwitchCosts parseStackSwitch(const nlohmann::json &v, const Bad &bad) {
  StackSwitchCosts c;
  if (!v.is_object())
    throw bad("stack_switch", "must be an object (link_bytes, frame_overhead, irq_headroom, "
                              "helpers, helper_reserve, helper_reserve_by_name)");
  auto bytes = [&](const std::string &key, const nlohmann::json &x) {
    if (!x.is_number_unsigned() || x.get<uint64_t>() > (1u << 20))
      throw bad("stack_switch." + key, "must be a number of bytes (0 to 1048576)");
    return x.get<uint32_t>();
  };
  for (auto &[key, x] : v.items()) {
    if (key == "link_bytes")
      c.linkBytes = bytes(key, x);
    else if (key == "frame_overhead")
      c.frameOverhead = bytes(key, x);
    else if (key == "irq_headroom")
      c.irqHeadroom = bytes(key, x);
    else if (key == "helper_reserve")
      c.helperReserve = bytes(key, x);
    else if (key == "helpers") {
      if (x != "on_buffer" && x != "task_stack")
        throw bad("stack_switch.helpers", "must be \"on_buffer\" (helpers run on the private "
                                          "stack) or \"task_stack\" (the JIT switches back)");
      c.helpersOnBuffer = x == "on_buffer";
    } else if (key == "helper_reserve_by_name") {
      if (!x.is_object())
        throw bad("stack_switch." + key, "must map helper or kfunc names to bytes");
      for (auto &[name, b] : x.items())
        c.helperReserveByName[name] = bytes(key + "." + name, b);
    } else {
      throw bad("stack_switch." + key, "unknown key (known: link_bytes, frame_overhead, "
                                       "irq_headroom, helpers, helper_reserve, "
                                       "helper_reserve_by_name)");
    }
  }
  return c;
}
} // namespace

Environment parseEnvironment(const std::string &path, const std::string &text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception &e) {
    throw InputError(path, "", std::string("not valid JSON: ") + e.what());
  }
  auto bad = [&](const std::string &key, const std::string &why) {
    return InputError(path, "key \"" + key + "\"", why);
  };
  if (!j.is_object())
    throw bad("", "the environment must be a JSON object");
  Environment env;
  for (auto &[key, v] : j.items()) {
    if (key == "nest") {
      if (!v.is_object())
        throw bad(key, "must map a program to the list of programs its kfunc calls may run");
      for (auto &[prog, list] : v.items()) {
        if (!list.is_array())
          throw bad("nest." + prog, "must be a list of program names");
        for (auto &q : list) {
          if (!q.is_string())
            throw bad("nest." + prog, "must be a list of program names");
          env.nest[prog].push_back(q.get<std::string>());
        }
      }
    } else if (key == "reenter") {
      if (!v.is_array())
        throw bad(key, "must be a list of program names");
      for (auto &q : v) {
        if (!q.is_string())
          throw bad(key, "must be a list of program names");
        env.reenter.insert(q.get<std::string>());
      }
    } else if (key == "prog_arrays") {
      if (!v.is_object())
        throw bad(key, "must map a prog array to {\"slot\": \"program\"}");
      for (auto &[map, slots] : v.items()) {
        if (!slots.is_object())
          throw bad("prog_arrays." + map, "must map slot numbers to program names");
        env.progArrays[map]; // {}: an array user space leaves empty (no tail call lands)
        for (auto &[slot, prog] : slots.items()) {
          size_t used = 0;
          unsigned long n = 0;
          try {
            n = std::stoul(slot, &used);
          } catch (const std::exception &) {
            used = 0;
          }
          if (used != slot.size() || !prog.is_string())
            throw bad("prog_arrays." + map + "." + slot, "must be a slot number mapped to a program name");
          env.progArrays[map][uint32_t(n)] = prog.get<std::string>();
        }
      }
    } else if (key == "tail_call_limit") {
      if (v.is_null())
        env.tailCallLimit.reset();
      else if (!v.is_number_unsigned())
        throw bad(key, "must be a non-negative integer (the kernel's is 33) or null (no limit)");
      else
        env.tailCallLimit = v.get<uint32_t>();
    } else if (key == "kernel_stack_budget") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() == 0)
        throw bad(key, "must be a positive number of bytes (x86-64: 16384)");
      env.kernelStackBudget = v.get<uint32_t>();
    } else if (key == "stack_switch") {
      env.stackSwitch = parseStackSwitch(v, bad);
    } else if (key == "$schema" || key == "comment") {
      continue;
    } else {
      throw bad(key, "unknown key (known: nest, reenter, prog_arrays, tail_call_limit, "
                     "kernel_stack_budget, stack_switch)");
    }
  }
  return env;
}

void applyEnvironment(Object &obj, const Environment &env, const std::string &envPath) {
  auto bad = [&](const std::string &key, const std::string &why) {
    return InputError(envPath, "key \"" + key + "\"", why + " in " + obj.path);
  };
  for (auto &[p, list] : env.nest) {
    if (!obj.program(p))
      throw bad("nest." + p, "no program named " + p);
    for (auto &q : list)
      if (!obj.program(q))
        throw bad("nest." + p, "no program named " + q);
  }
  for (auto &p : env.reenter)
    if (!obj.program(p))
      throw bad("reenter", "no program named " + p);
  for (auto &[map, slots] : env.progArrays) {
    const Map *m = obj.map(map);
    if (!m || !m->isProgArray())
      throw bad("prog_arrays." + map, "no prog array named " + map);
    for (auto &[slot, prog] : slots) {
      if (!obj.program(prog))
        throw bad("prog_arrays." + map + "." + std::to_string(slot), "no program named " + prog);
      if (m->maxEntries && slot >= m->maxEntries)
        throw bad("prog_arrays." + map + "." + std::to_string(slot),
                  "slot " + std::to_string(slot) + " is beyond the map's max_entries (" +
                      std::to_string(m->maxEntries) + ")");
    }
    for (auto &mm : obj.maps)
      if (mm.name == map)
        mm.progSlots = slots;
    // the environment is the contents: a constant slot reaches its program,
    // a variable slot every program listed
    for (auto &f : obj.functions)
      for (auto &tc : f.tailCalls) {
        if (!tc.map || *tc.map != map)
          continue;
        tc.targets.clear();
        tc.resolved = true;
        if (tc.slot) {
          auto it = slots.find(uint32_t(*tc.slot));
          if (it != slots.end())
            tc.targets.push_back(it->second);
        } else {
          for (auto &[s, prog] : slots)
            if (std::find(tc.targets.begin(), tc.targets.end(), prog) == tc.targets.end())
              tc.targets.push_back(prog);
        }
      }
  }
}

} // namespace pstack
