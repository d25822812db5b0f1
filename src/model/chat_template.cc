#include "model/chat_template.h"

#include <cctype>
#include <string>
#include <vector>

namespace tandem::model {
namespace {

enum class Role { kSystem, kUser, kAssistant };

struct NamedKind {
  std::string_view name;
  ChatTemplateKind kind;
};

constexpr NamedKind kNames[] = {
    {"llama3", ChatTemplateKind::kLlama3},  {"chatml", ChatTemplateKind::kChatMl},
    {"qwen", ChatTemplateKind::kChatMl},    {"mistral", ChatTemplateKind::kMistral},
    {"llama2", ChatTemplateKind::kMistral}, {"phi3", ChatTemplateKind::kPhi3},
};
constexpr std::string_view kNameList = "llama3, chatml (alias qwen), mistral (alias llama2), phi3";

bool Has(std::string_view text, std::string_view marker) {
  return text.find(marker) != std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The roles, parsed; InvalidArgument for an empty conversation or an unknown role.
StatusOr<std::vector<Role>> ParseRoles(std::span<const ChatMessage> messages) {
  if (messages.empty()) return InvalidArgument("chat: the conversation has no messages");
  std::vector<Role> roles;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r == "system") {
      roles.push_back(Role::kSystem);
    } else if (r == "user") {
      roles.push_back(Role::kUser);
    } else if (r == "assistant") {
      roles.push_back(Role::kAssistant);
    } else {
      return InvalidArgument("chat: message " + std::to_string(i) + " has role \"" + r +
                             "\"; the roles are system, user and assistant");
    }
  }
  return roles;
}

// [INST] can hold one system message, folded into the first user turn, and needs turns that
// alternate user / assistant from a user turn on.
Status CheckInstOrder(const std::vector<Role>& roles) {
  const size_t first = roles[0] == Role::kSystem ? 1 : 0;
  if (first == roles.size()) {
    return InvalidArgument("chat: the mistral format needs a user message after the system one");
  }
  for (size_t i = first; i < roles.size(); ++i) {
    const Role want = (i - first) % 2 == 0 ? Role::kUser : Role::kAssistant;
    if (roles[i] == want) continue;
    if (roles[i] == Role::kSystem) {
      return InvalidArgument("chat: message " + std::to_string(i) +
                             " is a system message; the mistral format takes one, first");
    }
    return InvalidArgument("chat: message " + std::to_string(i) +
                           " breaks the order; the mistral format needs turns alternating "
                           "user / assistant, starting with user");
  }
  return OkStatus();
}

std::string FormatLlama3(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
    out += Trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string FormatChatMl(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string FormatPhi3(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

// llama.cpp's "llama2": the system text and a newline open the first [INST], each user turn
// closes one, each assistant turn ends with </s>. The prompt already ends where the assistant
// speaks, so there is no generation prompt to add.
std::string FormatInst(std::span<const ChatMessage> messages, const std::vector<Role>& roles) {
  std::string out;
  bool in_turn = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!in_turn) out += "[INST] ";
    in_turn = true;
    switch (roles[i]) {
      case Role::kSystem: out += messages[i].content + "\n"; break;
      case Role::kUser: out += messages[i].content + " [/INST]"; break;
      case Role::kAssistant:
        out += messages[i].content + "</s>";
        in_turn = false;
        break;
    }
  }
  return out;
}

}  // namespace

std::optional<ChatTemplateKind> DetectChatTemplate(std::string_view jinja) {
  if (Has(jinja, "<|start_header_id|>") && Has(jinja, "<|end_header_id|>")) {
    return ChatTemplateKind::kLlama3;
  }
  if (Has(jinja, "<|im_start|>")) {
    // Phi-4 (<|im_sep|> after the role) and SmolVLM use <|im_start|> but are not ChatML.
    if (Has(jinja, "<|im_sep|>") || Has(jinja, "<end_of_utterance>")) return std::nullopt;
    return ChatTemplateKind::kChatMl;
  }
  if (Has(jinja, "[INST]")) return ChatTemplateKind::kMistral;
  if (Has(jinja, "<|assistant|>") && Has(jinja, "<|end|>")) return ChatTemplateKind::kPhi3;
  return std::nullopt;
}

StatusOr<ChatTemplateKind> ParseChatTemplateName(std::string_view name) {
  const std::string lower = Lower(name);
  for (const NamedKind& n : kNames) {
    if (n.name == lower) return n.kind;
  }
  return InvalidArgument("unknown chat template \"" + std::string(name) +
                         "\" (known: " + std::string(kNameList) + ")");
}

std::string_view ChatTemplateName(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kLlama3: return "llama3";
    case ChatTemplateKind::kChatMl: return "chatml";
    case ChatTemplateKind::kMistral: return "mistral";
    case ChatTemplateKind::kPhi3: return "phi3";
  }
  return "unknown";  // not reached: the switch covers every kind
}

StatusOr<std::string> ApplyChatTemplate(ChatTemplateKind kind,
                                        std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) {
  ASSIGN_OR_RETURN(const std::vector<Role> roles, ParseRoles(messages));
  switch (kind) {
    case ChatTemplateKind::kLlama3: return FormatLlama3(messages, add_generation_prompt);
    case ChatTemplateKind::kChatMl: return FormatChatMl(messages, add_generation_prompt);
    case ChatTemplateKind::kMistral:
      RETURN_IF_ERROR(CheckInstOrder(roles));
      return FormatInst(messages, roles);
    case ChatTemplateKind::kPhi3: return FormatPhi3(messages, add_generation_prompt);
  }
  return Internal("chat: unhandled template kind");
}

StatusOr<ChatTemplateKind> ResolveChatTemplate(std::string_view gguf_template_or_empty,
                                               std::string_view override_name) {
  if (!override_name.empty()) {
    StatusOr<ChatTemplateKind> kind = ParseChatTemplateName(override_name);
    if (!kind.ok()) return kind.status().WithContext("--chat-template");
    return kind;
  }
  if (std::optional<ChatTemplateKind> kind = DetectChatTemplate(gguf_template_or_empty)) {
    return *kind;
  }
  const std::string why = gguf_template_or_empty.empty()
                              ? "the model has no tokenizer.chat_template"
                              : "the model's tokenizer.chat_template is none we know";
  return InvalidArgument("the chat template is unknown (" + why +
                         "); pass --chat-template NAME to pick the format, NAME one of " +
                         std::string(kNameList));
}

}  // namespace tandem::model
