// A cursor over IR text for the hand-written parsers: tokens, positions and located errors.
#pragma once
#include "ir/node.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

class TextCursor {
public:
  TextCursor(std::string_view text, std::string_view source_name)
      : text_(text), source_(source_name) {}

  int line() const { return line_; }
  int column() const { return static_cast<int>(pos_ - line_start_) + 1; }
  bool at_end() const { return pos_ >= text_.size(); }
  // True at a newline, a '#' comment or the end (after spaces).
  bool at_line_end();
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_spaces(); // spaces and tabs, never newlines
  // Skips blank lines and lines that hold only a '#' comment; stops at the next content.
  void skip_blank_lines();
  // Consumes the rest of the line (an optional "# comment", returned without "# ") and the newline.
  std::string end_line(std::string_view after);

  bool accept(char c);                // consumes c if next (after spaces)
  bool accept(std::string_view word); // consumes a whole word if next
  void expect(char c, std::string_view what);
  void expect(std::string_view word, std::string_view what);
  std::string word(std::string_view what);   // [A-Za-z0-9_.]+ (identifiers, op names, numbers)
  std::string scalar(std::string_view what); // a literal's text: word chars plus sign, 'e+'
  int64_t integer(std::string_view what);
  std::string ssa_name(std::string_view what); // "%name" without the '%'
  DType dtype(std::string_view what);
  // "[2, 3]"; where `marked` is given, "[?2, 3]" too: *marked is the first axis after a '?' (a
  // size kiln::mark_dynamic marked, or one that follows it), -1 when none.
  Shape shape(std::string_view what, int* marked = nullptr);
  // "[1,2]" (spaces allowed); `marked` as for shape().
  std::vector<int64_t> int_list(std::string_view what, int* marked = nullptr);

  // Throws kiln::Error "[parse] <source>:line:col: expected <what>, got '<token>'" plus the line
  // and a caret under the column.
  [[noreturn]] void fail_expected(std::string_view what) const;
  [[noreturn]] void fail_at(int line, int column, std::string_view message) const;

private:
  std::string token_here() const;
  std::string_view line_text(int line) const;

  std::string_view text_, source_;
  size_t pos_ = 0, line_start_ = 0;
  int line_ = 1;
};

// Converts a literal's text to a Scalar of dtype t (false when it is not one).
bool parse_scalar(std::string_view text, DType t, Scalar& out);

} // namespace kiln
