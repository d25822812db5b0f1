#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/chat_template.h"
#include "model/generate.h"
#include "model/llama_model.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  std::string system;
  std::string chat_template;
  bool chat = false;
  bool json = false;
  bool ignore_eos = false;
  int64_t n_ctx = 0;  // 0: min(trained context, 4096)
  model::GenerateOptions gen;
};

StatusOr<std::string> PromptText(const RunOptions& o, const model::LlamaModel& m) {
  std::string text = o.prompt;
  if (!o.prompt_file.empty()) {
    std::ifstream f(o.prompt_file, std::ios::binary);
    if (!f) return NotFound(o.prompt_file + ": cannot read the prompt file");
    std::ostringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  if (!o.chat) return text;
  const model::GgufValue* tmpl = m.file().Find("tokenizer.chat_template");
  const std::string jinja = tmpl && tmpl->type == model::GgufType::kString ? tmpl->str : "";
  ASSIGN_OR_RETURN(model::ChatTemplateKind kind, model::ResolveChatTemplate(jinja, o.chat_template));
  std::vector<model::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  messages.push_back({"user", text});
  return model::ApplyChatTemplate(kind, messages, /*add_generation_prompt=*/true);
}

void PrintJson(const model::LlamaModel& m, const std::vector<int32_t>& prompt,
               const model::GenerateResult& r) {
  nlohmann::json j = {
      {"model", m.config().name},
      {"prompt_ids", prompt},
      {"generated_ids", r.generated},
      {"text", m.tokenizer().Decode(r.generated)},
      {"n_prompt_tokens", r.n_prompt},
      {"n_generated_tokens", r.generated.size()},
      {"prefill_s", r.prefill_s},
      {"decode_s", r.decode_s},
      {"prefill_tokens_per_s", r.prefill_tokens_per_s()},
      {"decode_tokens_per_s", r.decode_tokens_per_s()},
      {"stop", r.hit_end_of_generation ? "eos" : r.hit_context_limit ? "context" : "length"},
  };
  std::printf("%s\n", j.dump().c_str());
}

int RunRun(RunOptions o) {
  auto loaded = model::LlamaModel::Load(o.model);
  if (!loaded.ok()) return ReportError(loaded.status());
  const model::LlamaModel& m = **loaded;
  auto text = PromptText(o, m);
  if (!text.ok()) return ReportError(text.status());
  const std::vector<int32_t> prompt = m.tokenizer().Encode(*text, true, o.chat);
  const int64_t n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(m.config().n_ctx_train, 4096);
  auto cache = kv::KvCache::Create(model::KvLayoutFor(m.config(), n_ctx));
  if (!cache.ok()) return ReportError(cache.status());
  o.gen.stop_at_end_of_generation = !o.ignore_eos;

  model::StreamDecoder out(m.tokenizer());
  if (!o.json && !o.chat) {
    for (int32_t id : prompt) std::fputs(out.Push(id).c_str(), stdout);
    std::fflush(stdout);
  }
  model::StreamDecoder gen_out(m.tokenizer());
  auto r = model::Generate(m, *cache, prompt, o.gen, [&](int32_t id) {
    if (!o.json) {
      std::fputs((o.chat ? gen_out : out).Push(id).c_str(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (!r.ok()) return ReportError(r.status());
  if (o.json) {
    PrintJson(m, prompt, *r);
    return 0;
  }
  std::printf("%s\n", (o.chat ? gen_out : out).Flush().c_str());
  std::fprintf(stderr, "\nprompt:     %6lld tokens in %8.3f s = %9.2f tokens/s\n",
               static_cast<long long>(r->n_prompt), r->prefill_s, r->prefill_tokens_per_s());
  std::fprintf(stderr, "generation: %6zu tokens in %8.3f s = %9.2f tokens/s\n",
               r->generated.size(), r->decode_s, r->decode_tokens_per_s());
  return 0;
}

}  // namespace

void AddRunCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt on this machine");
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
  auto* p = cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  cmd->add_option("-f,--file", o->prompt_file, "Read the prompt from a file")->excludes(p);
  cmd->add_option("-n,--n-predict", o->gen.n_predict, "Tokens to generate (-1: until the end)")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size (default: min(trained, 4096))");
  cmd->add_option("-b,--batch-size", o->gen.n_batch, "Prompt tokens per prefill chunk")
      ->capture_default_str();
  cmd->add_option("--temp", o->gen.sampler.temperature, "Temperature (0: greedy)")
      ->capture_default_str();
  cmd->add_option("--top-k", o->gen.sampler.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", o->gen.sampler.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", o->gen.sampler.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", o->gen.sampler.repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", o->gen.sampler.repeat_last_n, "Tokens the penalty looks at")
      ->capture_default_str();
  cmd->add_option("-s,--seed", o->gen.sampler.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_flag("--chat", o->chat, "Format the prompt as a user message with the chat template");
  cmd->add_option("--system", o->system, "System message (with --chat)");
  cmd->add_option("--chat-template", o->chat_template,
                  "Template family when the model's is unknown: llama3, chatml, mistral, phi3");
  cmd->add_flag("--json", o->json, "Print one JSON object instead of streaming text");
  cmd->callback([o, &exit_code] { exit_code = RunRun(*o); });
}

}  // namespace tandem::tools
