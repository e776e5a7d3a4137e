#include "ir/text_cursor.h"

#include "ir/error.h"
#include "ir/scalar_eval.h"

#include <cctype>
#include <charconv>
#include <fmt/format.h>

namespace kiln {
namespace {
bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}
} // namespace

void TextCursor::skip_spaces() {
  while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r')) ++pos_;
}

bool TextCursor::at_line_end() {
  skip_spaces();
  return at_end() || peek() == '\n' || peek() == '#';
}

void TextCursor::skip_blank_lines() {
  for (;;) {
    skip_spaces();
    if (at_end()) return;
    if (peek() == '#') {
      while (!at_end() && peek() != '\n') ++pos_;
    }
    if (peek() != '\n') return;
    ++pos_;
    ++line_;
    line_start_ = pos_;
  }
}

std::string TextCursor::end_line(std::string_view after) {
  skip_spaces();
  std::string comment;
  if (peek() == '#') {
    size_t start = ++pos_;
    while (!at_end() && peek() != '\n') ++pos_;
    comment = std::string(text_.substr(start, pos_ - start));
    size_t a = comment.find_first_not_of(' '), b = comment.find_last_not_of(" \r\t");
    comment = a == std::string::npos ? "" : comment.substr(a, b - a + 1);
  }
  if (!at_end() && peek() != '\n') fail_expected(fmt::format("end of line after {}", after));
  if (!at_end()) {
    ++pos_;
    ++line_;
    line_start_ = pos_;
  }
  return comment;
}

bool TextCursor::accept(char c) {
  skip_spaces();
  if (peek() != c) return false;
  ++pos_;
  return true;
}

bool TextCursor::accept(std::string_view w) {
  skip_spaces();
  if (text_.substr(pos_, w.size()) != w) return false;
  if (pos_ + w.size() < text_.size() && word_char(text_[pos_ + w.size()]) && word_char(w.back()))
    return false;
  pos_ += w.size();
  return true;
}

void TextCursor::expect(char c, std::string_view what) {
  if (!accept(c)) fail_expected(what);
}

void TextCursor::expect(std::string_view w, std::string_view what) {
  if (!accept(w)) fail_expected(what);
}

std::string TextCursor::word(std::string_view what) {
  skip_spaces();
  size_t start = pos_;
  while (!at_end() && word_char(peek())) ++pos_;
  if (pos_ == start) fail_expected(what);
  return std::string(text_.substr(start, pos_ - start));
}

std::string TextCursor::scalar(std::string_view what) {
  skip_spaces();
  size_t start = pos_;
  while (!at_end()) {
    char c = peek();
    bool exp_sign = (c == '+' || c == '-') && pos_ > start &&
                    (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E');
    if (!word_char(c) && !(c == '-' && pos_ == start) && !exp_sign) break;
    ++pos_;
  }
  if (pos_ == start) fail_expected(what);
  return std::string(text_.substr(start, pos_ - start));
}

int64_t TextCursor::integer(std::string_view what) {
  skip_spaces();
  int line = line_, col = column();
  std::string s = scalar(what);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    fail_at(line, col, fmt::format("expected {}, got '{}'", what, s));
  return v;
}

std::string TextCursor::ssa_name(std::string_view what) {
  skip_spaces();
  if (peek() != '%') fail_expected(what);
  ++pos_;
  if (at_end() || !word_char(peek())) fail_expected(fmt::format("a name after '%' in {}", what));
  return word(what);
}

DType TextCursor::dtype(std::string_view what) {
  skip_spaces();
  int line = line_, col = column();
  std::string w = word(what);
  DType t;
  if (!parse_dtype(w, t))
    fail_at(line, col,
            fmt::format("expected {} (bool, u8, i32, i64, f32, f64), got '{}'", what, w));
  return t;
}

std::vector<int64_t> TextCursor::int_list(std::string_view what, int* marked) {
  expect('[', fmt::format("'[' opening {}", what));
  std::vector<int64_t> v;
  if (marked) *marked = -1;
  if (accept(']')) return v;
  do {
    if (marked && accept('?') && *marked < 0) *marked = static_cast<int>(v.size());
    v.push_back(integer(fmt::format("an integer in {}", what)));
  } while (accept(','));
  expect(']', fmt::format("',' or ']' in {}", what));
  return v;
}

Shape TextCursor::shape(std::string_view what, int* marked) {
  skip_spaces();
  int line = line_, col = column();
  Shape s = int_list(what, marked);
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) fail_at(line, col, fmt::format("negative extent in {}", what));
    // Keeps numel() and byte counts far from overflow (2^40 elements is 4 TiB of f32).
    if (d > 0 && n > (int64_t{1} << 40) / d)
      fail_at(line, col, fmt::format("{} is too large", what));
    n *= d ? d : 1;
  }
  return s;
}

std::string TextCursor::token_here() const {
  if (at_end()) return "end of input";
  if (text_[pos_] == '\n') return "end of line";
  size_t end = pos_;
  while (end < text_.size() && word_char(text_[end])) ++end;
  if (end == pos_) end = pos_ + 1;
  return fmt::format("'{}'", text_.substr(pos_, end - pos_));
}

std::string_view TextCursor::line_text(int line) const {
  size_t start = 0;
  for (int l = 1; l < line && start < text_.size(); ++l) {
    size_t nl = text_.find('\n', start);
    start = nl == std::string_view::npos ? text_.size() : nl + 1;
  }
  size_t end = text_.find('\n', start);
  return text_.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

void TextCursor::fail_expected(std::string_view what) const {
  fail_at(line_, column(), fmt::format("expected {}, got {}", what, token_here()));
}

void TextCursor::fail_at(int line, int column, std::string_view message) const {
  std::string src(line_text(line));
  throw Error(fmt::format("[parse] {}:{}:{}: {}\n  {}\n  {}^", source_, line, column, message, src,
                          std::string(static_cast<size_t>(std::max(column - 1, 0)), ' ')));
}

bool parse_scalar(std::string_view s, DType t, Scalar& out) {
  out = Scalar{};
  const char *b = s.data(), *e = s.data() + s.size();
  if (t == DType::Bool) {
    if (s != "true" && s != "false") return false;
    out.i = s == "true";
    return true;
  }
  if (is_float(t)) {
    // fmt prints NaN with a sign ("-nan"); from_chars takes the sign only before digits.
    bool neg = !s.empty() && s[0] == '-';
    auto [p, ec] = std::from_chars(b + neg, e, out.f);
    if (ec != std::errc() || p != e || (neg && s.size() > 1 && s[1] == '-')) return false;
    if (neg) out.f = -out.f;
    return true;
  }
  auto [p, ec] = std::from_chars(b, e, out.i);
  // Only values the dtype holds (see Scalar): a u8 literal is 0..255.
  return ec == std::errc() && p == e && eval_cast(out, DType::I64, t) == out;
}

} // namespace kiln
