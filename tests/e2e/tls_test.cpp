// HTTPS on corral's listener, with real clients against the real llama-server: curl and the openai
// npm client trusting a self-signed certificate, a plain request on the HTTPS port told so, a
// renewed certificate picked up on SIGHUP, large bodies both ways, and a bad certificate refused with
// the config key that names it.
#include "relay_fixture.hpp"

#include "process.hpp"
#include "runner_test_support.hpp"

#include <csignal>

namespace corral::test {
namespace {

using namespace std::chrono_literals;

class Tls : public RelayFixture {
protected:
    // A self-signed certificate for 127.0.0.1 and localhost, and its key, under `name`.pem / `name`.key.
    void make_certificate(const std::string& name) {
        fs::create_directories(dir_);
        auto r = run_process({"/usr/bin/env", "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                              "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                              "-keyout", (dir_ / (name + ".key")).string(), "-out", (dir_ / (name + ".pem")).string()});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    std::string tls_config(const std::string& extra = "") {
        return config(R"(, "tls": {"cert": ")" + (dir_ / "server.pem").string() + R"(", "key": ")" + (dir_ / "server.key").string() +
                      R"("})" + extra);
    }
    ProcessResult curl(uint16_t port, const std::string& ca, const std::vector<std::string>& more) {
        std::vector<std::string> argv{"/usr/bin/env", "curl", "-sS", "--max-time", "60", "--cacert", (dir_ / ca).string()};
        argv.insert(argv.end(), more.begin(), more.end());
        argv.push_back("https://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions");
        return run_process(argv);
    }
};

TEST_F(Tls, CurlAndTheOpenaiClientTalkHttpsToTheRealServer) {
    make_certificate("server");
    Corral corral(dir_, tls_config(R"(, "api_keys": [{"key": "k", "name": "web", "models": ["tiny-a"]}])"));
    const std::string body = R"({"model": "tiny-a", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": true})";
    auto streamed =
        curl(corral.port, "server.pem", {"-N", "-H", "Authorization: Bearer k", "-H", "Content-Type: application/json", "-d", body});
    ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
    EXPECT_NE(streamed.out.find("data: [DONE]"), std::string::npos) << streamed.out;

    auto r = run_process({"/usr/bin/env", "node", CORRAL_TEST_SOURCE_DIR "/tests/e2e/keys_client.cjs",
                          "https://localhost:" + std::to_string(corral.port) + "/v1", "k", "tiny-a", "toy"},
                         {{"NODE_PATH", CORRAL_TEST_NODE_MODULES}, {"NODE_EXTRA_CA_CERTS", (dir_ / "server.pem").string()}});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

    // Without trusting the certificate, clients refuse it; plain HTTP on the port is answered so.
    auto untrusted = run_process({"/usr/bin/env", "curl", "-sS", "https://127.0.0.1:" + std::to_string(corral.port) + "/health"});
    EXPECT_NE(untrusted.exit_code, 0);
    auto plain = corral.get("/health");
    EXPECT_EQ(plain.status, 400);
    EXPECT_NE(plain.body.find("https_required"), std::string::npos) << plain.body;
}

TEST_F(Tls, ARenewedCertificateIsUsedAfterSighup) {
    make_certificate("server");
    Corral corral(dir_, tls_config());
    const std::vector<std::string> health{"-o", "/dev/null", "-w", "%{http_code}",
                                          "https://127.0.0.1:" + std::to_string(corral.port) + "/health"};
    auto before = curl(corral.port, "server.pem", health);
    ASSERT_EQ(before.exit_code, 0) << before.err;
    fs::rename(dir_ / "server.pem", dir_ / "old.pem");
    make_certificate("server");  // renewed in place, as certbot does
    ::kill(corral.pid(), SIGHUP);
    EXPECT_TRUE(eventually([&] { return curl(corral.port, "server.pem", health).exit_code == 0; }, 10s));
    EXPECT_NE(curl(corral.port, "old.pem", health).exit_code, 0) << "new connections get the new certificate";

    // The CLI reaches the admin API over HTTPS: trusting --cacert, or the config's own certificate.
    auto ps = run_process({CORRAL_TEST_BINARY, "ps", "--url", "https://127.0.0.1:" + std::to_string(corral.port), "--cacert",
                           (dir_ / "server.pem").string()});
    EXPECT_EQ(ps.exit_code, 0) << ps.out << ps.err;
    EXPECT_NE(ps.out.find("tiny-a"), std::string::npos) << ps.out;
    auto by_config = run_process({CORRAL_TEST_BINARY, "ps", "--config", (dir_ / "config.json").string(), "--url",
                                  "https://127.0.0.1:" + std::to_string(corral.port)});  // the config listens on port 0
    EXPECT_EQ(by_config.exit_code, 0) << by_config.out << by_config.err;
    auto untrusted = run_process({CORRAL_TEST_BINARY, "ps", "--url", "https://127.0.0.1:" + std::to_string(corral.port)});
    EXPECT_EQ(untrusted.exit_code, 1);
    EXPECT_NE(untrusted.err.find("certificate verify failed"), std::string::npos) << untrusted.err;

    // A key that does not load is refused with its config key; the current certificate keeps serving.
    std::ofstream(dir_ / "server.key") << "not a key\n";
    auto reload = run_process({"/usr/bin/env", "curl", "-sS", "--cacert", (dir_ / "server.pem").string(), "-X", "POST",
                               "https://127.0.0.1:" + std::to_string(corral.port) + "/corral/reload"});
    EXPECT_NE(reload.out.find("tls.key"), std::string::npos) << reload.out << reload.err;
    EXPECT_EQ(curl(corral.port, "server.pem", health).exit_code, 0);
}

// Bodies larger than a TLS record and the sockets' buffers, both ways: a 480 KB request and its
// larger answer cross whole, the answer as the server gives it directly.
TEST_F(Tls, LargeBodiesCrossWholeBothWays) {
    make_certificate("server");
    Corral corral(dir_, tls_config());
    std::string content;
    for (int i = 0; i < 40000; ++i) content += "hello world ";
    const std::string body = R"({"content": ")" + content + R"("})";
    std::ofstream(dir_ / "body.json") << R"({"model": "tiny-a", )" << body.substr(1);
    auto relayed = run_process({"/usr/bin/env", "curl", "-sS", "--max-time", "60", "--cacert", (dir_ / "server.pem").string(), "-H",
                                "Content-Type: application/json", "--data-binary", "@" + (dir_ / "body.json").string(),
                                "https://127.0.0.1:" + std::to_string(corral.port) + "/tokenize"});
    ASSERT_EQ(relayed.exit_code, 0) << relayed.err;

    // The server's address and key, from the status (over HTTPS) and its environment.
    auto status = run_process({"/usr/bin/env", "curl", "-sS", "--cacert", (dir_ / "server.pem").string(),
                               "https://127.0.0.1:" + std::to_string(corral.port) + "/corral/status"});
    ASSERT_EQ(status.exit_code, 0) << status.err;
    const auto model = boost::json::parse(status.out).at("models").at(0).as_object();
    ASSERT_EQ(model.at("name"), "tiny-a");
    const std::string environment = environment_of(model.at("pid").as_int64());
    const auto at = environment.find("LLAMA_API_KEY=");
    ASSERT_NE(at, std::string::npos);
    const std::string key = environment.substr(at + 14, environment.find('\0', at) - at - 14);
    std::string host;
    uint16_t port = 0;
    split_endpoint(std::string(model.at("endpoint").as_string()), host, port);
    auto direct = http_request(host, port, "POST", "/tokenize", body, {{"Authorization", "Bearer " + key}});
    ASSERT_EQ(direct.status, 200);
    EXPECT_GT(direct.body.size(), body.size());
    EXPECT_TRUE(relayed.out == direct.body) << "relayed " << relayed.out.size() << " bytes, direct " << direct.body.size();
}

TEST_F(Tls, AnUnusableCertificateStopsTheStartWithItsConfigKey) {
    make_certificate("server");
    make_certificate("other");
    // A key that is not the certificate's.
    std::ofstream(dir_ / "config.json") << config(R"(, "tls": {"cert": ")" + (dir_ / "server.pem").string() + R"(", "key": ")" +
                                                  (dir_ / "other.key").string() + R"("})");
    auto r = run_process({CORRAL_TEST_BINARY, "serve", "--config", (dir_ / "config.json").string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("tls.key"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace corral::test
