#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <vector>

#include "kernels/ref/quant.h"
#include "model/model_maker.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

constexpr const char* kTypes =
    "F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q4_K_M or Q5_K_M";

// A type make-model can write: one the reference quantizer encodes.
bool Quantizable(kernels::WeightType type) {
  const kernels::WeightTypeTraits t = kernels::TraitsOf(type);
  std::vector<float> zeros(t.block_elems);
  std::vector<uint8_t> out(t.block_bytes);
  return kernels::ref::QuantizeRow(type, zeros.data(), out.data(), t.block_elems).ok();
}

struct MakeModelArgs {
  std::string shape;
  std::string type = "F16";
  std::string vocab;
  uint64_t seed = 1234;
  std::string out;
};

int RunMakeModel(const MakeModelArgs& a) {
  auto shape = model::FindShape(a.shape);
  if (!shape.ok()) return ReportError(shape.status());
  const auto weights = model::ParseModelWeights(a.type);
  if (!weights || !Quantizable(weights->type)) {
    return ReportError(InvalidArgument("--type " + a.type + ": use " + kTypes));
  }
  model::MakeModelOptions o{*shape, weights->type, a.vocab, a.seed, weights->mix};
  const Status st = model::MakeModel(o, a.out);
  if (!st.ok()) return ReportError(st);
  std::fprintf(stderr, "wrote %s: %s shape, %s weights, seed %llu\n", a.out.c_str(),
               a.shape.c_str(), a.type.c_str(), static_cast<unsigned long long>(a.seed));
  return 0;
}

}  // namespace

void AddMakeModelCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<MakeModelArgs>();
  CLI::App* cmd = app.add_subcommand(
      "make-model", "Write a GGUF model with seeded random weights at a real architecture's shape");
  std::string shapes;
  for (const auto& s : model::BuiltinShapes()) shapes += (shapes.empty() ? "" : ", ") + s.name;
  cmd->add_option("--shape", a->shape, "One of: " + shapes)->required();
  cmd->add_option("--type", a->type,
                  std::string("Weight type: ") + kTypes + " (_M: llama-quantize's mixes with Q6_K)")
      ->capture_default_str();
  cmd->add_option("--vocab", a->vocab, "Copy the tokenizer from this GGUF (default: synthetic)");
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--output", a->out, "Output file")->required();
  cmd->callback([a, &exit_code] { exit_code = RunMakeModel(*a); });
}

}  // namespace tandem::tools
