"""A throwaway WordPress site with the Relatedly plugin, for the plugin's tests and for trying it by hand.

Debian's `wordpress` package copied into a directory of its own, a `wp-config.php` pointing at a fresh
MariaDB database, `wp_install()` run by php-cli, the plugin copied in and switched on with
`activate_plugin()`, configured by the two constants alone, and served by `php -S` on loopback:

    python -m tests.wordpress.site --service-url http://127.0.0.1:8000 --token <admin token>
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "integrations" / "wordpress" / "relatedly"
WORDPRESS_DIR = Path(os.environ.get("RELATEDLY_TEST_WORDPRESS_DIR", "/usr/share/wordpress"))
MARIADB_HOST = os.environ.get("RELATEDLY_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("RELATEDLY_TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("RELATEDLY_TEST_MARIADB_USER", "root")
MARIADB_PASSWORD = os.environ.get("RELATEDLY_TEST_MARIADB_PASSWORD", "")

# Runs PHP read from stdin inside the site (after wp-load.php) and prints its return value as JSON.
RUNNER = """<?php
$_SERVER['HTTP_HOST'] = getenv('RELATEDLY_SITE_HOST');
define('WP_USE_THEMES', false);
if (getenv('RELATEDLY_INSTALLING')) {
    define('WP_INSTALLING', true);
}
require __DIR__ . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
$relatedly_result = eval(stream_get_contents(STDIN));
echo "\\n@@RESULT@@" . wp_json_encode($relatedly_result);
"""


class WordPressSite:
    """One site: `install()`, `php(code)` inside it, `serve()` / `stop()` its `php -S` server."""

    def __init__(self, directory: Path, *, service_url: str | None, admin_token: str | None) -> None:
        """`service_url` and `admin_token` become the plugin's constants; None leaves them to the settings page."""
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = f"relatedly_wp_{uuid.uuid4().hex[:10]}"
        self.service_url = service_url
        self.admin_token = admin_token
        self._server: subprocess.Popen[bytes] | None = None
        self._log = directory.parent / f"{directory.name}-php-server.log"

    def install(self) -> WordPressSite:
        """Copies WordPress and the plugin, creates the database, runs `wp_install()` and activates the plugin."""
        shutil.copytree(WORDPRESS_DIR, self.directory, ignore_dangling_symlinks=True,
                        ignore=shutil.ignore_patterns("wp-config.php", ".htaccess"))
        shutil.copytree(PLUGIN_DIR, self.directory / "wp-content" / "plugins" / "relatedly")
        (self.directory / "wp-config.php").write_text(self._config())
        (self.directory / "relatedly-test-run.php").write_text(RUNNER)
        self.mysql(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        result = self.php("""
            require_once ABSPATH . 'wp-admin/includes/upgrade.php';
            $installed = wp_install('Relatedly test site', 'admin', 'admin@example.org', false, '', 'admin-password');
            $activated = activate_plugin('relatedly/relatedly.php');
            return ['user_id' => $installed['user_id'],
                    'activation_error' => is_wp_error($activated) ? $activated->get_error_message() : null,
                    'active' => is_plugin_active('relatedly/relatedly.php')];
        """, installing=True)
        if result["activation_error"] or not result["active"]:
            raise RuntimeError(f"the plugin did not activate: {result}")
        return self

    def _config(self) -> str:
        def php_string(value: str) -> str:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

        salts = "\n".join(f"define('{name}', '{uuid.uuid4().hex}');" for name in (
            "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
            "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"))
        constants = "\n".join(f"define('{name}', {php_string(value)});" for name, value in (
            ("RELATEDLY_SERVICE_URL", self.service_url), ("RELATEDLY_ADMIN_TOKEN", self.admin_token))
            if value is not None)
        return f"""<?php
define('DB_NAME', '{self.database}');
define('DB_USER', {php_string(MARIADB_USER)});
define('DB_PASSWORD', {php_string(MARIADB_PASSWORD)});
define('DB_HOST', '{MARIADB_HOST}:{MARIADB_PORT}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';
{salts}
define('WP_HOME', '{self.url}');
define('WP_SITEURL', '{self.url}');
define('WP_CONTENT_DIR', __DIR__ . '/wp-content');
define('WP_DEBUG', true);
define('WP_DEBUG_LOG', __DIR__ . '/wp-content/debug.log');
define('WP_DEBUG_DISPLAY', false);
define('DISABLE_WP_CRON', true); // only the runs of wp-cron.php the tests make
define('WP_ENVIRONMENT_TYPE', 'local'); // application passwords over plain HTTP
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('WP_ACCESSIBLE_HOSTS', '127.0.0.1');
{constants}
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"""

    def mysql(self, statement: str) -> None:
        subprocess.run(["mysql", "-h", MARIADB_HOST, "-P", str(MARIADB_PORT), "-u", MARIADB_USER,
                        *([f"-p{MARIADB_PASSWORD}"] if MARIADB_PASSWORD else []), "-e", statement],
                       check=True, capture_output=True, timeout=60)

    def php(self, code: str, *, timeout: float = 120, installing: bool = False) -> Any:
        """Runs `code` (PHP statements ending in a `return`) inside the site with php-cli; its value as JSON."""
        env = {**os.environ, "RELATEDLY_SITE_HOST": f"127.0.0.1:{self.port}",
               "RELATEDLY_INSTALLING": "1" if installing else ""}
        done = subprocess.run(["php", "relatedly-test-run.php"], input=code.encode(), cwd=self.directory,
                              capture_output=True, timeout=timeout, env=env)
        output = done.stdout.decode(errors="replace")
        if done.returncode != 0 or "@@RESULT@@" not in output:
            raise RuntimeError(f"php failed ({done.returncode}):\n{output[-4000:]}\n{done.stderr.decode()[-4000:]}")
        return json.loads(output.rsplit("@@RESULT@@", 1)[1])

    def admin_cookies(self) -> str:
        """A `Cookie` header signing in the site's administrator (one session for both cookies)."""
        return self.php("""
            $expires = time() + 3600;
            $token = WP_Session_Tokens::get_instance(1)->create($expires);
            return AUTH_COOKIE . '=' . rawurlencode(wp_generate_auth_cookie(1, $expires, 'auth', $token)) . '; '
                 . LOGGED_IN_COOKIE . '=' . rawurlencode(wp_generate_auth_cookie(1, $expires, 'logged_in', $token));
        """)

    def serve(self) -> WordPressSite:
        """Starts `php -S` on the site's loopback port; returns once it answers."""
        with open(self._log, "ab") as log:
            # several workers, as any real server has: WordPress calls itself (site health, cron spawns)
            self._server = subprocess.Popen(["php", "-S", f"127.0.0.1:{self.port}", "-t", str(self.directory)],
                                            cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PHP_CLI_SERVER_WORKERS": "4"},
                                            start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/wp-login.php", timeout=5):
                    return self
            except OSError as exc:
                if time.monotonic() > deadline or self._server.poll() is not None:
                    raise RuntimeError(f"php -S never answered: {exc}\n{self._log.read_text()[-3000:]}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        """Stops `php -S` and its workers (a process group of their own)."""
        if self._server is not None:
            os.killpg(self._server.pid, signal.SIGTERM)
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._server.pid, signal.SIGKILL)
                self._server.wait()
            self._server = None

    def drop(self) -> None:
        """Stops the server and drops the database (the directory is the caller's)."""
        self.stop()
        self.mysql(f"DROP DATABASE IF EXISTS `{self.database}`")

    def debug_log(self) -> str:
        log = self.directory / "wp-content" / "debug.log"
        return log.read_text(errors="replace") if log.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    site = WordPressSite(Path(tempfile.mkdtemp(prefix="relatedly-wp-")) / "site",
                         service_url=args.service_url, admin_token=args.token).install().serve()
    print(f"{site.url}/ (admin / admin-password), files in {site.directory}, database {site.database}; Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        site.drop()


if __name__ == "__main__":
    main()
