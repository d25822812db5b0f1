#include "runtime/emulation.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <thread>

namespace tandem::runtime {

StatusOr<double> ParseQuantity(std::string_view text) {
  double mult = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K': mult = 1e3; break;
      case 'M': mult = 1e6; break;
      case 'G': mult = 1e9; break;
      case 'T': mult = 1e12; break;
      default: break;
    }
    if (mult != 1) text.remove_suffix(1);
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !(v >= 0)) {
    return InvalidArgument("'" + std::string(text) + "' is not a non-negative number");
  }
  return v * mult;
}

StatusOr<DeviceEmulation> DeviceEmulation::Parse(std::string_view spec) {
  DeviceEmulation e;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("--emulate: expected key=value, got '" + std::string(item) + "'");
    }
    const std::string_view key = item.substr(0, eq);
    auto v = ParseQuantity(item.substr(eq + 1));
    if (!v.ok()) return v.status().WithContext("--emulate " + std::string(key));
    if (key == "flops") {
      e.flops = *v;
    } else if (key == "bw") {
      e.bandwidth = *v;
    } else if (key == "mem") {
      e.memory = *v;
    } else {
      return InvalidArgument("--emulate: unknown key '" + std::string(key) +
                             "' (use flops, bw, mem)");
    }
  }
  if ((e.flops > 0) != (e.bandwidth > 0)) {
    return InvalidArgument("--emulate needs both flops and bw");
  }
  return e;
}

std::string DeviceEmulation::ToString() const {
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%.3g GFLOP/s, %.3g GB/s, %.3g GB", flops / 1e9, bandwidth / 1e9,
                memory / 1e9);
  return buf;
}

Pacer::Pacer(const model::LlamaModel& model, const DeviceEmulation& emu)
    : model_(model), emu_(emu), mark_(std::chrono::steady_clock::now()) {}

void Pacer::OnForwardBegin(int64_t, int64_t) { mark_ = std::chrono::steady_clock::now(); }

void Pacer::OnLayerDone(int layer, int64_t t0, int64_t t1) {
  const auto& c = model_.config();
  PaceTo(std::max(model::LayerFlops(c, t0, t1) / emu_.flops,
                  model::LayerBytes(model_.weights(), c, layer, t1) / emu_.bandwidth));
}

void Pacer::OnForwardEnd(int64_t, int64_t, bool computed_logits) {
  if (!computed_logits) return;
  PaceTo(std::max(model::HeadFlops(model_.config()) / emu_.flops,
                  model::HeadBytes(model_.weights()) / emu_.bandwidth));
}

void Pacer::PaceTo(double emulated_s) {
  const auto target = mark_ + std::chrono::nanoseconds(static_cast<int64_t>(emulated_s * 1e9));
  const auto now = std::chrono::steady_clock::now();
  ++paced_;
  if (now > target) {
    ++saturated_;
    const double real = std::chrono::duration<double>(now - mark_).count();
    worst_overrun_ = std::max(worst_overrun_, emulated_s > 0 ? real / emulated_s : 0.0);
    mark_ = now;
    return;
  }
  std::this_thread::sleep_until(target);
  mark_ = target;
}

}  // namespace tandem::runtime
