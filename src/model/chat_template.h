// Chat prompt formats for a few model families, written in C++ rather than run from the GGUF's
// Jinja template (tokenizer.chat_template): the template text only tells us which family it is.
// The output matches llama.cpp's llama_chat_apply_template for the same family.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tandem::model {

enum class ChatTemplateKind {
  kLlama3,   // <|start_header_id|>role<|end_header_id|>\n\n content <|eot_id|>
  kChatMl,   // <|im_start|>role\n content <|im_end|>\n (Qwen, many fine-tunes)
  kMistral,  // [INST] user [/INST]assistant</s> (Llama 2 chat, Mistral Instruct)
  kPhi3,     // <|role|>\n content <|end|>\n
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The family a tokenizer.chat_template is written for, from its distinctive markers; nullopt
// when none of ours matches (an empty text included).
std::optional<ChatTemplateKind> DetectChatTemplate(std::string_view jinja);

// "llama3", "chatml" (alias "qwen"), "mistral" (alias "llama2"), "phi3"; case does not matter.
// Anything else: InvalidArgument listing the names.
StatusOr<ChatTemplateKind> ParseChatTemplateName(std::string_view name);

// The canonical name ParseChatTemplateName accepts: "llama3", "chatml", "mistral", "phi3".
std::string_view ChatTemplateName(ChatTemplateKind kind);

// Formats the conversation as the family expects; with `add_generation_prompt` the assistant's
// header follows, for the model to continue. Without BOS (the tokenizer adds it). InvalidArgument
// for an empty conversation, a role other than system / user / assistant, and (mistral, which
// folds the system message into the first user turn) a system message that is not first or
// turns that do not alternate user / assistant.
StatusOr<std::string> ApplyChatTemplate(ChatTemplateKind kind,
                                        std::span<const ChatMessage> messages,
                                        bool add_generation_prompt);

// For the CLI: `override_name` when non-empty, else the family detected from the GGUF's template
// text. When neither gives one, InvalidArgument saying the template is unknown and to pass
// --chat-template NAME, with the names.
StatusOr<ChatTemplateKind> ResolveChatTemplate(std::string_view gguf_template_or_empty,
                                               std::string_view override_name);

}  // namespace tandem::model
