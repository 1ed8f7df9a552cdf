// The console's files as compiled in, and how each request for one is answered: 304 for a current
// copy, gzip only when accepted and smaller, the content types, and the headers every answer carries.
#include "console/console_assets.hpp"
#include "console/asset_reply.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace corral::console {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::map<std::string, std::string> headers_of(const AssetReply& r) {
    return {r.headers.begin(), r.headers.end()};
}

TEST(ConsoleAssets, EveryFileIsCompiledInSortedWithItsCompressedCopyAndATag) {
    const auto assets = console_assets();
    ASSERT_GE(assets.size(), 8u);
    EXPECT_TRUE(std::is_sorted(assets.begin(), assets.end(), [](const auto& a, const auto& b) { return a.name < b.name; }));
    for (const auto& a : assets) {
        EXPECT_FALSE(a.body.empty()) << a.name;
        EXPECT_EQ(a.gzip_body.substr(0, 3), std::string_view("\x1f\x8b\x08", 3)) << a.name << " is not gzip";
        EXPECT_EQ(a.etag.size(), 22u) << a.etag;
        EXPECT_EQ(a.etag.front(), '"');
        EXPECT_NE(content_type_for(a.name), "application/octet-stream") << a.name;
    }
    // The page loads its modules from the same folder: each one it names is there.
    const auto* index = find_console_asset("/");
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->name, "index.html");
    for (const char* name : {"js/app.js", "js/api.js", "js/events.js", "js/models.js", "js/logs.js", "js/playground.js", "js/activity.js",
                             "console.css", "favicon.svg"}) {
        EXPECT_NE(find_console_asset(name), nullptr) << name;
    }
}

TEST(ConsoleAssets, OnlyTheCompiledFilesAreFound) {
    EXPECT_EQ(find_console_asset(""), find_console_asset("index.html"));
    EXPECT_EQ(find_console_asset("//js/app.js"), find_console_asset("js/app.js"));
    EXPECT_EQ(find_console_asset("../config.json"), nullptr);
    EXPECT_EQ(find_console_asset("js/../index.html"), nullptr);
    EXPECT_EQ(find_console_asset("js/"), nullptr);
    EXPECT_EQ(find_console_asset("JS/APP.JS"), nullptr);
}

TEST(ConsoleAssets, ContentTypesByExtension) {
    EXPECT_EQ(content_type_for("a/index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(content_type_for("x.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("x.css"), "text/css; charset=utf-8");
    EXPECT_EQ(content_type_for("x.svg"), "image/svg+xml");
    EXPECT_EQ(content_type_for("x.png"), "image/png");
    EXPECT_EQ(content_type_for("js"), "application/octet-stream");
}

TEST(AssetReply, EntityTagsCompareAsIfNoneMatchSays) {
    EXPECT_TRUE(etag_matches("\"abc\"", "\"abc\""));
    EXPECT_TRUE(etag_matches("W/\"abc\"", "\"abc\""));
    EXPECT_TRUE(etag_matches("\"x\", \"abc\"", "\"abc\""));
    EXPECT_TRUE(etag_matches("*", "\"abc\""));
    EXPECT_FALSE(etag_matches("\"abcd\"", "\"abc\""));
    EXPECT_FALSE(etag_matches("abc", "\"abc\""));
    EXPECT_FALSE(etag_matches("", "\"abc\""));
}

TEST(AssetReply, GzipOnlyWhenTheClientTakesIt) {
    EXPECT_TRUE(accepts_gzip("gzip"));
    EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));
    EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    EXPECT_TRUE(accepts_gzip("*"));
    EXPECT_TRUE(accepts_gzip("x-gzip"));
    EXPECT_FALSE(accepts_gzip(""));
    EXPECT_FALSE(accepts_gzip("br, deflate"));
    EXPECT_FALSE(accepts_gzip("gzip;q=0"));
    EXPECT_FALSE(accepts_gzip("gzip; q=0.000"));
    EXPECT_FALSE(accepts_gzip("*, gzip;q=0"));  // named beats the wildcard
    EXPECT_TRUE(accepts_gzip("*;q=0.1, br"));
    EXPECT_FALSE(accepts_gzip("*;q=0"));
}

TEST(AssetReply, AnswersWithTheFileItsTypeAndTheSecurityHeaders) {
    const ConsoleAsset page{"index.html", "<!doctype html>hello hello hello", "\x1f\x8b\x08small", "\"0123456789abcdef0123\""};
    auto r = reply_for(page, "", "");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, page.body);
    auto h = headers_of(r);
    EXPECT_EQ(h["Content-Type"], "text/html; charset=utf-8");
    EXPECT_EQ(h["ETag"], "\"0123456789abcdef0123\"");
    EXPECT_EQ(h["Cache-Control"], "no-cache");
    EXPECT_EQ(h["Vary"], "Accept-Encoding");
    EXPECT_EQ(h["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(h.count("Content-Encoding"), 0u);
    EXPECT_THAT(h["Content-Security-Policy"], HasSubstr("script-src 'self'"));
    EXPECT_THAT(h["Content-Security-Policy"], HasSubstr("frame-ancestors 'none'"));
    EXPECT_THAT(h["Content-Security-Policy"], Not(HasSubstr("unsafe")));

    auto gz = reply_for(page, "", "gzip, br");
    EXPECT_EQ(gz.body, page.gzip_body);
    auto gh = headers_of(gz);
    EXPECT_EQ(gh["Content-Encoding"], "gzip");
    EXPECT_EQ(gh["ETag"], "\"0123456789abcdef0123-gzip\"") << "each representation has its own tag";
}

TEST(AssetReply, ACurrentCopyGets304WithoutABody) {
    const ConsoleAsset js{"js/app.js", "export const x = 1; export const y = 2;", "\x1f\x8b\x08z", "\"t\""};
    auto same = reply_for(js, "\"t\"", "");
    EXPECT_EQ(same.status, 304);
    EXPECT_TRUE(same.body.empty());
    EXPECT_EQ(headers_of(same)["ETag"], "\"t\"");
    // The compressed copy's tag validates only the compressed copy.
    EXPECT_EQ(reply_for(js, "\"t-gzip\"", "gzip").status, 304);
    EXPECT_EQ(reply_for(js, "\"t-gzip\"", "").status, 200);
    EXPECT_EQ(reply_for(js, "\"t\"", "gzip").status, 200);
    EXPECT_EQ(reply_for(js, "\"old\"", "").status, 200);
}

TEST(AssetReply, AFileThatGzipDoesNotShrinkIsSentAsItIs) {
    const ConsoleAsset tiny{"favicon.svg", "<svg/>", "\x1f\x8b\x08 longer than the file", "\"s\""};
    auto r = reply_for(tiny, "", "gzip");
    EXPECT_EQ(r.body, tiny.body);
    auto h = headers_of(r);
    EXPECT_EQ(h.count("Content-Encoding"), 0u);
    EXPECT_EQ(h.count("Vary"), 0u);
    EXPECT_EQ(h["Content-Type"], "image/svg+xml");
}

}  // namespace
}  // namespace corral::console
