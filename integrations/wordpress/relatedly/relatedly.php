<?php
/**
 * Plugin Name:       Relatedly
 * Plugin URI:        https://github.com/relatedly/relatedly
 * Description:       Related stories from a Relatedly service: every publish, edit, unpublish and delete reaches its model at once, and each post shows its related block, rendered on the server.
 * Version:           0.1.0
 * Requires at least: 5.6
 * Requires PHP:      7.4
 * Author:            Relatedly
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       relatedly
 *
 * @package Relatedly
 */

/*
 * Relatedly for WordPress is free software: you can redistribute it and/or modify it under the terms
 * of the GNU General Public License as published by the Free Software Foundation, either version 2
 * of the License, or (at your option) any later version. It is distributed in the hope that it will
 * be useful, but WITHOUT ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or
 * FITNESS FOR A PARTICULAR PURPOSE. See the GNU General Public License for more details.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'RELATEDLY_PLUGIN_VERSION', '0.1.0' );
define( 'RELATEDLY_PLUGIN_DIR', __DIR__ );

require_once __DIR__ . '/includes/class-relatedly-settings.php';
require_once __DIR__ . '/includes/class-relatedly-client.php';
require_once __DIR__ . '/includes/class-relatedly-article.php';
require_once __DIR__ . '/includes/class-relatedly-sync.php';
require_once __DIR__ . '/includes/class-relatedly-render.php';
require_once __DIR__ . '/includes/class-relatedly-admin.php';

Relatedly_Sync::register();
Relatedly_Render::register();
Relatedly_Admin::register();

register_activation_hook( __FILE__, array( 'Relatedly_Sync', 'schedule_if_waiting' ) );
register_deactivation_hook( __FILE__, array( 'Relatedly_Sync', 'unschedule' ) );
