#include "sim/simulator.h"

#include <deque>
#include <map>
#include <queue>
#include <utility>

namespace tandem::sim {
namespace {

using planner::Mode;

enum class TaskKind { kPrefillLayer, kSend, kDecodeStep };

struct Task {
  int request = 0;
  TaskKind kind = TaskKind::kPrefillLayer;
  int64_t index = 0;  // layer, or decode step; kSend of after-prefill: n_layers − 1
  double duration_s = 0;
};

struct Resource {
  std::string name;
  std::deque<Task> queue;  // front is running when busy
  bool busy = false;
  double busy_s = 0;
};

enum class EventKind { kDispatched, kTaskDone };

struct Event {
  double time_s = 0;
  int64_t seq = 0;  // FIFO among equal times
  EventKind kind = EventKind::kDispatched;
  int id = 0;  // request (kDispatched) or resource (kTaskDone)
  bool operator>(const Event& o) const {
    return time_s != o.time_s ? time_s > o.time_s : seq > o.seq;
  }
};

class Simulator {
 public:
  Simulator(const planner::ModelShape& m, const planner::Topology& t,
            std::span<const SimRequest> requests)
      : m_(m), t_(t), requests_(requests), traces_(requests.size()) {
    for (const auto& d : t.devices) resources_.push_back({d.name, {}, false, 0});
  }

  SimResult Run();

 private:
  int LinkResource(int from, int to);
  void Push(double time_s, EventKind kind, int id) { events_.push({time_s, seq_++, kind, id}); }
  void Enqueue(int resource, Task task);
  void StartFront(int resource);
  void OnDone(const Task& task);
  void OnPrefillLayer(const Task& task);
  void OnKvArrived(int request);
  void EnqueuePrefillLayer(int request, int64_t layer);
  void EnqueueDecodeStep(int request, int64_t step);

  const planner::ModelShape& m_;
  const planner::Topology& t_;
  std::span<const SimRequest> requests_;
  std::vector<RequestTrace> traces_;
  std::vector<Resource> resources_;
  std::map<std::pair<int, int>, int> link_resource_;  // (from, to) device → resource
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  int64_t seq_ = 0;
  double now_s_ = 0;
};

int Simulator::LinkResource(int from, int to) {
  auto [it, inserted] = link_resource_.try_emplace({from, to}, resources_.size());
  if (inserted) {
    const auto& a = t_.devices[from].name;
    const auto& b = t_.devices[to].name;
    resources_.push_back({a + " → " + b + " (" + t_.FindLink(a, b)->name + ")", {}, false, 0});
  }
  return it->second;
}

void Simulator::Enqueue(int resource, Task task) {
  resources_[resource].queue.push_back(task);
  if (!resources_[resource].busy) StartFront(resource);
}

void Simulator::StartFront(int resource) {
  Resource& r = resources_[resource];
  const Task& task = r.queue.front();
  r.busy = true;
  r.busy_s += task.duration_s;
  RequestTrace& trace = traces_[task.request];
  if (task.kind == TaskKind::kPrefillLayer && task.index == 0) trace.prefill_start_s = now_s_;
  if (task.kind == TaskKind::kSend && requests_[task.request].placement.mode == Mode::kStreamed) {
    trace.layers[task.index].send_start_s = now_s_;
  }
  Push(now_s_ + task.duration_s, EventKind::kTaskDone, resource);
}

void Simulator::EnqueuePrefillLayer(int request, int64_t layer) {
  const SimRequest& r = requests_[request];
  const double s =
      planner::PrefillLayerSeconds(m_, t_.devices[r.placement.prefill_device],
                                   planner::PrefillTokens(r.request, r.placement.mode));
  Enqueue(r.placement.prefill_device, {request, TaskKind::kPrefillLayer, layer, s});
}

void Simulator::EnqueueDecodeStep(int request, int64_t step) {
  const SimRequest& r = requests_[request];
  const double s = planner::DecodeStepSeconds(m_, t_.devices[r.placement.decode_device],
                                              r.request.prompt_tokens + step);
  Enqueue(r.placement.decode_device, {request, TaskKind::kDecodeStep, step, s});
}

void Simulator::OnPrefillLayer(const Task& task) {
  const SimRequest& r = requests_[task.request];
  const planner::Placement& p = r.placement;
  RequestTrace& trace = traces_[task.request];
  trace.layers[task.index].compute_end_s = now_s_;
  const bool last = task.index + 1 == m_.n_layers;
  if (!last) EnqueuePrefillLayer(task.request, task.index + 1);
  if (last) trace.prefill_end_s = now_s_;
  const planner::LinkProfile* link =
      p.mode == Mode::kColocated
          ? nullptr
          : t_.FindLink(t_.devices[p.prefill_device].name, t_.devices[p.decode_device].name);
  const double layer_bytes =
      planner::KvWireBytesPerLayer(m_, p.codec, planner::PrefillTokens(r.request, p.mode));
  switch (p.mode) {
    case Mode::kColocated:
      if (last) OnKvArrived(task.request);
      break;
    case Mode::kStreamed:
      Enqueue(LinkResource(p.prefill_device, p.decode_device),
              {task.request, TaskKind::kSend, task.index, link->MessageSeconds(layer_bytes)});
      break;
    case Mode::kAfterPrefill:
      if (last) {
        const double all = link->MessageSeconds(layer_bytes * m_.n_layers);
        Enqueue(LinkResource(p.prefill_device, p.decode_device),
                {task.request, TaskKind::kSend, task.index, all});
      }
      break;
  }
}

void Simulator::OnKvArrived(int request) {
  RequestTrace& trace = traces_[request];
  trace.kv_ready_s = now_s_;
  const SimRequest& r = requests_[request];
  if (r.placement.mode != Mode::kColocated) return EnqueueDecodeStep(request, 0);
  // Alone, the prefill batch's last row gave the first token (planner::Predict).
  trace.first_token_s = now_s_;
  if (r.request.gen_tokens > 1) {
    EnqueueDecodeStep(request, 1);
  } else {
    trace.done_s = now_s_;
  }
}

void Simulator::OnDone(const Task& task) {
  RequestTrace& trace = traces_[task.request];
  switch (task.kind) {
    case TaskKind::kPrefillLayer: OnPrefillLayer(task); break;
    case TaskKind::kSend:
      if (requests_[task.request].placement.mode == Mode::kStreamed) {
        trace.layers[task.index].send_end_s = now_s_;
      }
      if (task.index + 1 == m_.n_layers) OnKvArrived(task.request);
      break;
    case TaskKind::kDecodeStep:
      if (task.index == 0) trace.first_token_s = now_s_;
      if (task.index + 1 < requests_[task.request].request.gen_tokens) {
        EnqueueDecodeStep(task.request, task.index + 1);
      } else {
        trace.done_s = now_s_;
      }
      break;
  }
}

SimResult Simulator::Run() {
  for (size_t i = 0; i < requests_.size(); ++i) {
    const SimRequest& r = requests_[i];
    traces_[i].arrival_s = r.arrival_s;
    traces_[i].layers.resize(m_.n_layers);
    double dispatch_s = 0;
    if (r.placement.mode != Mode::kColocated) {
      dispatch_s = t_.FindLink(t_.devices[r.placement.prefill_device].name,
                               t_.devices[r.placement.decode_device].name)
                       ->rtt_s /
                   2;
    }
    Push(r.arrival_s + dispatch_s, EventKind::kDispatched, static_cast<int>(i));
  }
  while (!events_.empty()) {
    const Event e = events_.top();
    events_.pop();
    now_s_ = e.time_s;
    if (e.kind == EventKind::kDispatched) {
      EnqueuePrefillLayer(e.id, 0);
      continue;
    }
    const Task done = resources_[e.id].queue.front();
    resources_[e.id].queue.pop_front();
    resources_[e.id].busy = false;
    OnDone(done);  // may add link resources: no references into resources_ across it
    if (!resources_[e.id].busy && !resources_[e.id].queue.empty()) StartFront(e.id);
  }
  SimResult out;
  out.requests = std::move(traces_);
  for (const Resource& r : resources_) out.resources.push_back({r.name, r.busy_s});
  out.makespan_s = now_s_;
  return out;
}

Status ValidateRequests(const planner::ModelShape& m, const planner::Topology& t,
                        std::span<const SimRequest> requests) {
  if (requests.size() > kMaxSimRequests) {
    return InvalidArgument("at most " + std::to_string(kMaxSimRequests) + " requests");
  }
  const int n = static_cast<int>(t.devices.size());
  double tasks = 0;
  for (const SimRequest& r : requests) {
    RETURN_IF_ERROR(r.request.Validate());
    const planner::Placement& p = r.placement;
    if (p.prefill_device < 0 || p.prefill_device >= n || p.decode_device < 0 ||
        p.decode_device >= n ||
        (p.mode == Mode::kColocated) != (p.prefill_device == p.decode_device)) {
      return InvalidArgument("placement devices out of range or inconsistent with the mode");
    }
    if (p.mode != Mode::kColocated &&
        t.FindLink(t.devices[p.prefill_device].name, t.devices[p.decode_device].name) == nullptr) {
      return InvalidArgument("no link between " + t.devices[p.prefill_device].name + " and " +
                             t.devices[p.decode_device].name);
    }
    if (!(r.arrival_s >= 0)) return InvalidArgument("arrival times must be >= 0");
    tasks += 2.0 * m.n_layers + static_cast<double>(r.request.gen_tokens);
  }
  if (tasks > kMaxSimTasks) return InvalidArgument("too many simulated tasks (over 5e7)");
  return OkStatus();
}

}  // namespace

StatusOr<SimResult> Simulate(const planner::ModelShape& m, const planner::Topology& t,
                             std::span<const SimRequest> requests) {
  RETURN_IF_ERROR(m.Validate());
  RETURN_IF_ERROR(t.Validate());
  RETURN_IF_ERROR(ValidateRequests(m, t, requests));
  return Simulator(m, t, requests).Run();
}

}  // namespace tandem::sim
