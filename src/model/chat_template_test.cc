#include "model/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::model {
namespace {

// system + user + assistant + user; the padded assistant turn shows who trims.
const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."},
    {"user", "Hi"},
    {"assistant", "  Hello.  "},
    {"user", "What is 2+2?"},
};

std::string Apply(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                  bool add_generation_prompt = true) {
  StatusOr<std::string> out = ApplyChatTemplate(kind, messages, add_generation_prompt);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : "";
}

TEST(ChatTemplateTest, Llama3TrimsContentAndAddsTheAssistantHeader) {
  EXPECT_EQ(Apply(ChatTemplateKind::kLlama3, kConversation),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(Apply(ChatTemplateKind::kLlama3, {{"user", "Hi"}}, false),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(ChatTemplateTest, ChatMlKeepsContentAsIs) {
  EXPECT_EQ(Apply(ChatTemplateKind::kChatMl, kConversation),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n  Hello.  <|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(Apply(ChatTemplateKind::kChatMl, {{"user", "Hi"}}, false),
            "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateTest, MistralFoldsTheSystemMessageIntoTheFirstTurn) {
  const std::string want =
      "[INST] You are terse.\nHi [/INST]  Hello.  </s>[INST] What is 2+2? [/INST]";
  EXPECT_EQ(Apply(ChatTemplateKind::kMistral, kConversation), want);
  // The prompt already ends where the assistant speaks.
  EXPECT_EQ(Apply(ChatTemplateKind::kMistral, kConversation, false), want);
  EXPECT_EQ(Apply(ChatTemplateKind::kMistral, {{"user", "Hi"}}), "[INST] Hi [/INST]");
}

TEST(ChatTemplateTest, Phi3) {
  EXPECT_EQ(Apply(ChatTemplateKind::kPhi3, kConversation),
            "<|system|>\nYou are terse.<|end|>\n"
            "<|user|>\nHi<|end|>\n"
            "<|assistant|>\n  Hello.  <|end|>\n"
            "<|user|>\nWhat is 2+2?<|end|>\n"
            "<|assistant|>\n");
  EXPECT_EQ(Apply(ChatTemplateKind::kPhi3, {{"user", "Hi"}}, false), "<|user|>\nHi<|end|>\n");
}

TEST(ChatTemplateTest, NoBosInAnyFamily) {
  for (const ChatTemplateKind kind : {ChatTemplateKind::kLlama3, ChatTemplateKind::kChatMl,
                                      ChatTemplateKind::kMistral, ChatTemplateKind::kPhi3}) {
    const std::string out = Apply(kind, kConversation);
    EXPECT_EQ(out.find("<|begin_of_text|>"), std::string::npos);
    EXPECT_NE(out.rfind("<s>", 0), 0u);
  }
}

TEST(ChatTemplateTest, RejectsEmptyConversationsAndUnknownRoles) {
  for (const ChatTemplateKind kind : {ChatTemplateKind::kLlama3, ChatTemplateKind::kChatMl,
                                      ChatTemplateKind::kMistral, ChatTemplateKind::kPhi3}) {
    const StatusOr<std::string> empty = ApplyChatTemplate(kind, {}, true);
    EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
    const std::vector<ChatMessage> tool = {{"user", "Hi"}, {"tool", "42"}};
    const StatusOr<std::string> bad = ApplyChatTemplate(kind, tool, true);
    ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << ChatTemplateName(kind);
    EXPECT_NE(bad.status().message().find("\"tool\""), std::string::npos);
    EXPECT_NE(bad.status().message().find("message 1"), std::string::npos);
    const std::vector<ChatMessage> upper = {{"User", "Hi"}};
    EXPECT_FALSE(ApplyChatTemplate(kind, upper, true).ok());
  }
}

TEST(ChatTemplateTest, MistralRejectsWhatItCannotExpress) {
  auto error = [](const std::vector<ChatMessage>& m) {
    const StatusOr<std::string> out = ApplyChatTemplate(ChatTemplateKind::kMistral, m, true);
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    return out.status().message();
  };
  EXPECT_NE(error({{"user", "Hi"}, {"system", "Be terse."}}).find("system"), std::string::npos);
  EXPECT_NE(error({{"user", "a"}, {"user", "b"}}).find("alternat"), std::string::npos);
  EXPECT_NE(error({{"assistant", "a"}, {"user", "b"}}).find("alternat"), std::string::npos);
  EXPECT_NE(error({{"system", "s"}}).find("user"), std::string::npos);
  // The other families can place a system message anywhere.
  const std::vector<ChatMessage> late = {{"user", "Hi"}, {"system", "Be terse."}};
  EXPECT_TRUE(ApplyChatTemplate(ChatTemplateKind::kChatMl, late, true).ok());
}

// Short but faithful excerpts of the templates shipped in tokenizer_config.json.
constexpr const char* kLlama3Jinja =
    R"({% set loop_messages = messages %}{% for message in loop_messages %})"
    R"({% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + )"
    R"(message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %})"
    R"({% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %})"
    R"({% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }})"
    R"({% endif %})";

constexpr const char* kQwen2Jinja =
    R"({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %})"
    R"({{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %})"
    R"({{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}})"
    R"({% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";

constexpr const char* kMistralJinja =
    R"({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != )"
    R"((loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate )"
    R"(user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %})"
    R"({{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %})"
    R"({{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and )"
    R"(assistant roles are supported!') }}{% endif %}{% endfor %})";

constexpr const char* kPhi3Jinja =
    R"({% for message in messages %}{% if message['role'] == 'system' %})"
    R"({{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %})"
    R"({{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == )"
    R"('assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %})"
    R"({% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %})"
    R"({{ eos_token }}{% endif %})";

constexpr const char* kPhi4Jinja =
    R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' + )"
    R"(message['content'] + '<|im_end|>'}}{% endfor %}{% if add_generation_prompt %})"
    R"({{ '<|im_start|>assistant<|im_sep|>' }}{% endif %})";

constexpr const char* kGemmaJinja =
    R"({{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + )"
    R"('\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %})"
    R"({% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %})";

TEST(ChatTemplateTest, DetectsFamiliesFromTheirTemplates) {
  EXPECT_EQ(DetectChatTemplate(kLlama3Jinja), ChatTemplateKind::kLlama3);
  EXPECT_EQ(DetectChatTemplate(kQwen2Jinja), ChatTemplateKind::kChatMl);
  EXPECT_EQ(DetectChatTemplate(kMistralJinja), ChatTemplateKind::kMistral);
  EXPECT_EQ(DetectChatTemplate(kPhi3Jinja), ChatTemplateKind::kPhi3);
  EXPECT_EQ(DetectChatTemplate(kPhi4Jinja), std::nullopt);  // <|im_sep|>: not ChatML
  EXPECT_EQ(DetectChatTemplate(kGemmaJinja), std::nullopt);
  EXPECT_EQ(DetectChatTemplate(""), std::nullopt);
}

TEST(ChatTemplateTest, ParsesNamesAndAliases) {
  const std::pair<const char*, ChatTemplateKind> cases[] = {
      {"llama3", ChatTemplateKind::kLlama3},  {"chatml", ChatTemplateKind::kChatMl},
      {"qwen", ChatTemplateKind::kChatMl},    {"mistral", ChatTemplateKind::kMistral},
      {"llama2", ChatTemplateKind::kMistral}, {"phi3", ChatTemplateKind::kPhi3},
      {"ChatML", ChatTemplateKind::kChatMl},
  };
  for (const auto& [name, kind] : cases) {
    const StatusOr<ChatTemplateKind> got = ParseChatTemplateName(name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().ToString();
    EXPECT_EQ(*got, kind) << name;
  }
  for (const ChatTemplateKind kind : {ChatTemplateKind::kLlama3, ChatTemplateKind::kChatMl,
                                      ChatTemplateKind::kMistral, ChatTemplateKind::kPhi3}) {
    EXPECT_EQ(*ParseChatTemplateName(ChatTemplateName(kind)), kind);  // names round-trip
  }
  const StatusOr<ChatTemplateKind> bad = ParseChatTemplateName("gemma");
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  for (const char* name : {"gemma", "llama3", "chatml", "qwen", "mistral", "llama2", "phi3"}) {
    EXPECT_NE(bad.status().message().find(name), std::string::npos) << name;
  }
}

TEST(ChatTemplateTest, ResolvePrefersTheOverrideThenDetects) {
  EXPECT_EQ(*ResolveChatTemplate(kQwen2Jinja, ""), ChatTemplateKind::kChatMl);
  EXPECT_EQ(*ResolveChatTemplate(kQwen2Jinja, "llama3"), ChatTemplateKind::kLlama3);
  EXPECT_EQ(*ResolveChatTemplate("", "phi3"), ChatTemplateKind::kPhi3);
  EXPECT_EQ(*ResolveChatTemplate(kGemmaJinja, "chatml"), ChatTemplateKind::kChatMl);

  const StatusOr<ChatTemplateKind> bad_name = ResolveChatTemplate(kQwen2Jinja, "vicuna");
  ASSERT_EQ(bad_name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_name.status().message().find("--chat-template"), std::string::npos);
  EXPECT_NE(bad_name.status().message().find("vicuna"), std::string::npos);
}

TEST(ChatTemplateTest, ResolveUnknownTemplateSaysToPassTheFlag) {
  for (const char* jinja : {kGemmaJinja, ""}) {
    const StatusOr<ChatTemplateKind> r = ResolveChatTemplate(jinja, "");
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    const std::string msg = r.status().message();
    EXPECT_NE(msg.find("unknown"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--chat-template NAME"), std::string::npos) << msg;
    for (const char* name : {"llama3", "chatml", "mistral", "phi3"}) {
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace tandem::model
