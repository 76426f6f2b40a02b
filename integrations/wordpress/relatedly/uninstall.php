<?php
/**
 * Deleting the plugin removes its options, queue and cron event (the service keeps its articles).
 *
 * @package Relatedly
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

foreach ( array( 'relatedly_service_url', 'relatedly_public_url', 'relatedly_admin_token', 'relatedly_auto_insert', 'relatedly_limit', 'relatedly_heading', 'relatedly_queue', 'relatedly_last_delivery', 'relatedly_generation' ) as $relatedly_option ) {
	delete_option( $relatedly_option );
}
delete_transient( 'relatedly_unreachable' );
wp_clear_scheduled_hook( 'relatedly_deliver_queue' );
