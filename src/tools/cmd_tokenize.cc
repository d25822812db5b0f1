#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <memory>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

struct TokenizeOptions {
  std::string model;
  bool no_bos = false;
  bool no_parse_special = false;
};

int RunTokenize(const TokenizeOptions& o) {
  auto file = model::GgufFile::Open(o.model);
  if (!file.ok()) return ReportError(file.status());
  auto vocab = model::ReadVocab(**file);
  if (!vocab.ok()) return ReportError(vocab.status());
  auto tok = model::Tokenizer::Create(std::move(*vocab));
  if (!tok.ok()) return ReportError(tok.status().WithContext(o.model));
  const std::string text((std::istreambuf_iterator<char>(std::cin)),
                         std::istreambuf_iterator<char>());
  const auto ids = (*tok)->Encode(text, !o.no_bos, !o.no_parse_special);
  for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
  std::cout << "\n";
  return 0;
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Read text on stdin, print token ids");
  cmd->add_option("-m,--model", o->model, "GGUF model or vocabulary file")->required();
  cmd->add_flag("--no-bos", o->no_bos, "Do not add the BOS token");
  cmd->add_flag("--no-parse-special", o->no_parse_special,
                "Treat special-token text such as <|im_start|> as plain text");
  cmd->callback([o, &exit_code] { exit_code = RunTokenize(*o); });
}

}  // namespace tandem::tools
