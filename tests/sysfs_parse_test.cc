#include "hailo_device_plugin/sysfs_parse.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hailo_dp {
namespace {

using ::testing::HasSubstr;

// One row: input, and the expected value or nullopt for an error.
template <typename T>
struct Case {
  std::string input;
  std::optional<T> want;
};

template <typename T, typename Parser>
void RunTable(const std::vector<Case<T>>& cases, Parser parse) {
  for (const Case<T>& c : cases) {
    SCOPED_TRACE("input: '" + c.input + "'");
    const absl::StatusOr<T> got = parse(c.input);
    if (c.want.has_value()) {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, *c.want);
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(SysfsParseTest, TrimAttribute) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0x1e60\n", "0x1e60"}, {"1e60:2864", "1e60:2864"},  // Hailo attributes: no newline
      {"  x \t\r\n", "x"},    {std::string("hailo\0\0", 7), "hailo"},
      {"\n\n", ""},           {"", ""},
      {"a b", "a b"},
  };
  for (const auto& [input, want] : cases) EXPECT_EQ(TrimAttribute(input), want);
}

TEST(SysfsParseTest, ParseHexId) {
  RunTable<uint16_t>(
      {
          {"0x1e60\n", 0x1e60},
          {"0x2864", 0x2864},
          {"45C4\n", 0x45c4},
          {"0X43a2", 0x43a2},
          {"0x0\n", 0},
          {"ffff", 0xffff},
          {"", std::nullopt},
          {"\n", std::nullopt},
          {"0x", std::nullopt},
          {"0x10000", std::nullopt},  // more than 16 bits
          {"0x1e6g", std::nullopt},
          {"-0x1", std::nullopt},
          {"+1e60", std::nullopt},
          {"0x 1e60", std::nullopt},
          {"1e 60", std::nullopt},
          {"\xff\xfe", std::nullopt},
      },
      ParseHexId);
}

TEST(SysfsParseTest, ParseVendorDevicePair) {
  const std::vector<Case<std::pair<uint16_t, uint16_t>>> cases = {
      {"1e60:2864", std::pair{0x1e60, 0x2864}},
      {"1e60:45c4\n", std::pair{0x1e60, 0x45c4}},
      {"0x1e60:0x26A2", std::pair{0x1e60, 0x26a2}},
      {"1e60", std::nullopt},
      {"1e60:", std::nullopt},
      {":2864", std::nullopt},
      {"1e60:2864:1", std::nullopt},
      {"1e60 :2864", std::nullopt},
      {"0000:03:00.0", std::nullopt},
      {"", std::nullopt},
  };
  RunTable<std::pair<uint16_t, uint16_t>>(
      cases, [](std::string_view text) -> absl::StatusOr<std::pair<uint16_t, uint16_t>> {
        absl::StatusOr<PciIds> ids = ParseVendorDevicePair(text);
        if (!ids.ok()) return ids.status();
        return std::pair{ids->vendor, ids->device};
      });
}

TEST(SysfsParseTest, ParsePciAddress) {
  RunTable<std::string>(
      {
          {"0000:03:00.0", "0000:03:00.0"},
          {"0001:01:00.0", "0001:01:00.0"},  // Raspberry Pi 5
          {"0000:0A:1F.7\n", "0000:0a:1f.7"},
          {"10000:e1:00.0", "10000:e1:00.0"},  // Intel VMD domain
          {"0000:03:00.0 ", "0000:03:00.0"},
          {"03:00.0", std::nullopt},
          {"000:03:00.0", std::nullopt},
          {"0000:3:00.0", std::nullopt},
          {"0000:03:0.0", std::nullopt},
          {"0000:03:00.8", std::nullopt},  // function 0-7
          {"0000:03:20.0", std::nullopt},  // slot 0-1f
          {"0000:03:00", std::nullopt},
          {"0000:03:00.00", std::nullopt},
          {"0000:03:00.0:1", std::nullopt},
          {"gggg:03:00.0", std::nullopt},
          {"1e60:2864", std::nullopt},
          {"[integrated]", std::nullopt},
          {"", std::nullopt},
      },
      ParsePciAddress);
}

TEST(SysfsParseTest, ParseInteger) {
  RunTable<int64_t>(
      {
          {"1\n", 1},
          {"0\n", 0},
          {"-1\n", -1},
          {"42", 42},
          {"9223372036854775807", INT64_MAX},
          {"-9223372036854775808", INT64_MIN},
          {"9223372036854775808", std::nullopt},
          {"-9223372036854775809", std::nullopt},
          {"", std::nullopt},
          {"-", std::nullopt},
          {"+1", std::nullopt},
          {"1.0", std::nullopt},
          {"0x1", std::nullopt},
          {"1 2", std::nullopt},
          {"x", std::nullopt},
      },
      ParseInteger);
}

TEST(SysfsParseTest, ParseNumaNode) {
  RunTable<std::optional<int>>(
      {
          {"0\n", std::optional<int>(0)},
          {"1\n", std::optional<int>(1)},
          {"-1\n", std::optional<int>()},
          {"-2\n", std::nullopt},
          {"2147483648", std::nullopt},
          {"x", std::nullopt},
          {"", std::nullopt},
      },
      ParseNumaNode);
}

TEST(SysfsParseTest, ParseMajorMinor) {
  RunTable<MajorMinor>(
      {
          {"240:0\n", MajorMinor{240, 0}},
          {"510:3", MajorMinor{510, 3}},
          {"0:0", MajorMinor{0, 0}},
          {"4294967295:1048575", MajorMinor{4294967295u, 1048575}},
          {"4294967296:0", std::nullopt},
          {"240", std::nullopt},
          {"240:", std::nullopt},
          {":0", std::nullopt},
          {"240:0:1", std::nullopt},
          {"-1:0", std::nullopt},
          {"240: 0", std::nullopt},
          {"a:b", std::nullopt},
          {"", std::nullopt},
      },
      ParseMajorMinor);
}

TEST(SysfsParseTest, ParseAerTotalFatal) {
  const std::string kernel =
      "Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nCmpltAbrt 0\n"
      "UnxCmplt 0\nRxOF 0\nMalfTLP 2\nECRC 0\nUnsupReq 0\nACSViol 0\n"
      "UncorrIntErr 0\nBlockedTLP 0\nAtomicOpBlocked 0\nTLPBlockedErr 0\n"
      "PoisonTLPBlocked 0\nTOTAL_ERR_FATAL 2\n";
  RunTable<uint64_t>(
      {
          {kernel, 2},
          {"TOTAL_ERR_FATAL 0\n", 0},
          {"TOTAL_ERR_FATAL 18446744073709551615", UINT64_MAX},
          {"DLP 1\r\nTOTAL_ERR_FATAL 7\r\n", 7},
          {"TOTAL_ERR_FATAL_X 1\nTOTAL_ERR_FATAL 3\n", 3},
          {"TOTAL_ERR_FATAL\n", std::nullopt},
          {"TOTAL_ERR_FATAL x\n", std::nullopt},
          {"TOTAL_ERR_FATAL -1\n", std::nullopt},
          {"TOTAL_ERR_FATAL 1 2\n", std::nullopt},
          {"DLP 0\n", std::nullopt},
          {"", std::nullopt},
      },
      ParseAerTotalFatal);
}

TEST(SysfsParseTest, ErrorsQuoteTheInputAndTheReason) {
  EXPECT_THAT(std::string(ParseInteger("x").status().message()),
              HasSubstr("not an integer: 'x'"));
  EXPECT_THAT(std::string(ParseMajorMinor("abc").status().message()), HasSubstr("'abc'"));
}

TEST(SysfsParseTest, ErrorsEscapeAndCutGarbage) {
  const std::string garbage = std::string("\x01\xff'\\") + std::string(1000, 'z');
  const std::string message(ParseHexId(garbage).status().message());
  EXPECT_THAT(message, HasSubstr("'\\x01\\xff\\x27\\x5czzz"));
  EXPECT_THAT(message, HasSubstr("...'"));
  EXPECT_LT(message.size(), 120u);
}

TEST(SysfsParseTest, ParsersNeverCrashOnArbitraryBytes) {
  std::string bytes;
  for (int i = 0; i < 4096; ++i) {
    bytes.push_back(static_cast<char>((i * 7919) & 0xff));
    const std::string_view text(bytes.data() + (i % 64), bytes.size() - (i % 64));
    (void)ParseHexId(text);
    (void)ParseVendorDevicePair(text);
    (void)ParsePciAddress(text);
    (void)ParseNumaNode(text);
    (void)ParseInteger(text);
    (void)ParseMajorMinor(text);
    (void)ParseAerTotalFatal(text);
  }
}

}  // namespace
}  // namespace hailo_dp
