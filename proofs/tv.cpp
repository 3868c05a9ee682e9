#include "proofs/proofs.h"
namespace pstack {
const char *tvStatusName(TvStatus s) {
  return s == TvStatus::Proved ? "proved" : s == TvStatus::Failed ? "FAILED" : "unknown";
}
std::vector<TvObligation> validateTranslation(const TvOptions &) { return {}; }
std::string tvTable(const std::vector<TvObligation> &) { return ""; }
} // namespace pstack
