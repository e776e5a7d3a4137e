// Recursive-descent JSON reader: strict syntax, \u escapes to UTF-8, integers kept exact.
#include "io_json.h"

#include "ir/error.h"

#include <charconv>
#include <fmt/format.h>

namespace kiln::io::json {
namespace {

class Parser {
public:
  Parser(std::string_view t, const std::string& what) : t_(t), what_(what) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (p_ != t_.size()) fail("unexpected text after the JSON value");
    return v;
  }

private:
  [[noreturn]] void fail(std::string_view why) const {
    throw Error(fmt::format("{} is not valid JSON: {} at byte {}", what_, why, p_));
  }
  void skip_space() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r'))
      ++p_;
  }
  bool eat(char c) {
    skip_space();
    if (p_ < t_.size() && t_[p_] == c) return ++p_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(fmt::format("expected '{}'", c));
  }
  bool word(std::string_view w) {
    if (t_.substr(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }

  Value value(int depth) {
    if (depth > 64) fail("nesting deeper than 64");
    skip_space();
    if (p_ >= t_.size()) fail("unexpected end");
    Value v;
    char c = t_[p_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      v.kind = Value::Kind::String;
      v.string = string();
    } else if (word("true")) {
      v.kind = Value::Kind::Bool;
      v.boolean = true;
    } else if (word("false")) {
      v.kind = Value::Kind::Bool;
    } else if (word("null")) {
      v.kind = Value::Kind::Null;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v = number();
    } else {
      fail(fmt::format("unexpected character '{}'", c));
    }
    return v;
  }

  Value object(int depth) {
    Value v;
    v.kind = Value::Kind::Object;
    expect('{');
    if (eat('}')) return v;
    do {
      skip_space();
      if (p_ >= t_.size() || t_[p_] != '"') fail("expected a string key");
      std::string key = string();
      expect(':');
      v.object.emplace_back(std::move(key), value(depth + 1));
    } while (eat(','));
    expect('}');
    return v;
  }

  Value array(int depth) {
    Value v;
    v.kind = Value::Kind::Array;
    expect('[');
    if (eat(']')) return v;
    do v.array.push_back(value(depth + 1));
    while (eat(','));
    expect(']');
    return v;
  }

  Value number() {
    size_t start = p_;
    if (t_[p_] == '-') ++p_;
    auto digits = [&] {
      size_t d = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      return p_ - d;
    };
    if (p_ < t_.size() && t_[p_] == '0')
      ++p_;
    else if (digits() == 0)
      fail("expected digits");
    bool integral = true;
    if (p_ < t_.size() && t_[p_] == '.') {
      ++p_, integral = false;
      if (digits() == 0) fail("expected digits after '.'");
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      ++p_, integral = false;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (digits() == 0) fail("expected exponent digits");
    }
    Value v;
    v.kind = Value::Kind::Number;
    std::string text(t_.substr(start, p_ - start));
    v.number = std::strtod(text.c_str(), nullptr);
    if (integral) {
      auto r = std::from_chars(text.data(), text.data() + text.size(), v.integer);
      v.integral = r.ec == std::errc();
    }
    return v;
  }

  unsigned hex4() {
    if (p_ + 4 > t_.size()) fail("truncated \\u escape");
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      char c = t_[p_++];
      u <<= 4;
      if (c >= '0' && c <= '9')
        u |= c - '0';
      else if (c >= 'a' && c <= 'f')
        u |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        u |= c - 'A' + 10;
      else
        fail("bad \\u escape");
    }
    return u;
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80)
      out += static_cast<char>(cp);
    else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++p_; // opening quote
    std::string out;
    for (;;) {
      if (p_ >= t_.size()) fail("unterminated string");
      char c = t_[p_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= t_.size()) fail("unterminated escape");
      char e = t_[p_++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        unsigned cp = hex4();
        if (cp >= 0xD800 && cp < 0xDC00) { // a surrogate pair
          if (!word("\\u")) fail("unpaired surrogate");
          unsigned lo = hex4();
          if (lo < 0xDC00 || lo >= 0xE000) fail("unpaired surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        utf8(out, cp);
        break;
      }
      default:
        fail(fmt::format("bad escape '\\{}'", e));
      }
    }
  }

  std::string_view t_;
  const std::string& what_;
  size_t p_ = 0;
};

} // namespace

const Value* Value::find(std::string_view key) const {
  for (auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

Value parse(std::string_view text, const std::string& what) {
  return Parser(text, what).document();
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20)
        out += fmt::format("\\u{:04x}", c);
      else
        out += c;
    }
  }
  return out + "\"";
}

} // namespace kiln::io::json
