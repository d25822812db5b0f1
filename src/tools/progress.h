// A one-line progress bar on stderr, drawn only when stderr is a terminal and the work has already
// taken more than a second (quick commands stay quiet).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace tandem::tools {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label)
      : label_(std::move(label)),
        start_(std::chrono::steady_clock::now()),
        tty_(isatty(fileno(stderr)) != 0) {}
  ~ProgressBar() { Done(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void set_label(std::string label) { label_ = std::move(label); }

  // fraction in [0, 1]
  void Update(double fraction) {
    if (!tty_) return;
    const double elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (elapsed_s < 1.0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth + 0.5);
    std::fprintf(stderr, "\r%-24s [%s%s] %3d%% %5.1fs", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
                 static_cast<int>(fraction * 100 + 0.5), elapsed_s);
    std::fflush(stderr);
    drawn_ = true;
  }

  // Clears the line (if anything was drawn).
  void Done() {
    if (drawn_) std::fprintf(stderr, "\r%80s\r", "");
    drawn_ = false;
  }

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  bool tty_;
  bool drawn_ = false;
};

}  // namespace tandem::tools
