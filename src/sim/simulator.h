// Discrete-event simulation of requests on device and link profiles, without computing. Each
// device's compute and each link direction is a FIFO server; a request is a chain of tasks on
// them (prefill layers, KV messages, decode steps) timed by the planner's cost model, so one
// request on an idle cluster takes exactly what planner::Predict says, and a stream of requests
// shows the queueing the planner does not model.
//
// Not modelled: batching decode steps of several requests into one pass over the weights (each
// step is served alone, which overstates decode time under load), and a prefill preempting
// anything: servers switch between requests only at layer and step boundaries.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "planner/placement.h"

namespace tandem::sim {

// Bounds checked before the event loop allocates anything.
inline constexpr size_t kMaxSimRequests = 100000;
inline constexpr double kMaxSimTasks = 5e7;  // prefill layers + KV messages + decode steps

struct SimRequest {
  double arrival_s = 0;
  planner::Request request;
  planner::Placement placement;
};

struct LayerTrace {
  double compute_end_s = 0;
  double send_start_s = -1;  // streamed only; -1 when the layer is not sent on its own
  double send_end_s = -1;
};

// Absolute simulated times, seconds.
struct RequestTrace {
  double arrival_s = 0;
  double prefill_start_s = 0;      // first layer starts on the prefill device
  double prefill_end_s = 0;        // last layer done
  double kv_ready_s = 0;           // the decode device holds every layer's KV
  double first_token_s = 0;        // first decode step done
  double done_s = 0;               // last decode step done
  std::vector<LayerTrace> layers;  // [n_layers]

  double ttft_s() const { return first_token_s - arrival_s; }
  double total_s() const { return done_s - arrival_s; }
  double prefill_s() const { return prefill_end_s - prefill_start_s; }
  double tail_s() const { return kv_ready_s - prefill_end_s; }  // exposed transfer
  double generation_s() const { return done_s - kv_ready_s; }   // all decode steps
};

struct ResourceUse {
  std::string name;  // "dgx-spark" or "dgx-spark → m3-ultra (10gbe)"
  double busy_s = 0;
};

struct SimResult {
  std::vector<RequestTrace> requests;  // in the order given
  std::vector<ResourceUse> resources;  // devices, then link directions that carried traffic
  double makespan_s = 0;               // last event
};

// Runs the requests to completion. Fails on invalid inputs (placements out of range, no link
// for a split, requests out of bounds).
StatusOr<SimResult> Simulate(const planner::ModelShape& m, const planner::Topology& t,
                             std::span<const SimRequest> requests);

}  // namespace tandem::sim
