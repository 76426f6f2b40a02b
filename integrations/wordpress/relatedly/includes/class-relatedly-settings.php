<?php
/**
 * Where the plugin's configuration comes from: constants in wp-config.php first (the usual place for
 * secrets, and the only step a deployment needs), then the options of the settings page.
 *
 * @package Relatedly
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The plugin's settings, read in this one place.
 */
final class Relatedly_Settings {

	const OPTION_URL        = 'relatedly_service_url';
	const OPTION_PUBLIC_URL = 'relatedly_public_url';
	const OPTION_TOKEN      = 'relatedly_admin_token';
	const OPTION_AUTO       = 'relatedly_auto_insert';
	const OPTION_LIMIT      = 'relatedly_limit';
	const OPTION_HEADING    = 'relatedly_heading';

	const DEFAULT_LIMIT = 5;
	const MAX_LIMIT     = 50;

	/**
	 * The service's base URL for the server's own calls (no trailing slash), or '' when not configured.
	 */
	public static function service_url(): string {
		$url = defined( 'RELATEDLY_SERVICE_URL' ) ? (string) RELATEDLY_SERVICE_URL : (string) get_option( self::OPTION_URL, '' );
		return untrailingslashit( trim( $url ) );
	}

	/**
	 * The base URL browsers load the widget script from: RELATEDLY_PUBLIC_URL when the service URL is an
	 * internal address (a container name, a private network), else the service URL.
	 */
	public static function public_url(): string {
		$url = defined( 'RELATEDLY_PUBLIC_URL' ) ? (string) RELATEDLY_PUBLIC_URL : (string) get_option( self::OPTION_PUBLIC_URL, '' );
		$url = untrailingslashit( trim( $url ) );
		return '' !== $url ? $url : self::service_url();
	}

	/**
	 * The admin token; it stays on the server (sent only in the Authorization header of admin calls).
	 */
	public static function admin_token(): string {
		return trim( defined( 'RELATEDLY_ADMIN_TOKEN' ) ? (string) RELATEDLY_ADMIN_TOKEN : (string) get_option( self::OPTION_TOKEN, '' ) );
	}

	/**
	 * Whether changes can be pushed: a service URL and an admin token.
	 */
	public static function can_push(): bool {
		return '' !== self::service_url() && '' !== self::admin_token();
	}

	/**
	 * Whether the related block follows the content of every post (on unless turned off by the
	 * RELATEDLY_AUTO_INSERT constant, the settings page or the `relatedly_auto_insert` filter).
	 *
	 * @param WP_Post $post The post being shown.
	 */
	public static function auto_insert( WP_Post $post ): bool {
		$on = defined( 'RELATEDLY_AUTO_INSERT' ) ? (bool) RELATEDLY_AUTO_INSERT : '1' === (string) get_option( self::OPTION_AUTO, '1' );
		/**
		 * Filters whether the related block is appended to this post's content.
		 *
		 * @param bool    $on   Whether it is.
		 * @param WP_Post $post The post.
		 */
		return (bool) apply_filters( 'relatedly_auto_insert', $on, $post );
	}

	/**
	 * Stories shown in a block unless the shortcode or block says otherwise.
	 */
	public static function limit(): int {
		return self::clamp_limit( (int) get_option( self::OPTION_LIMIT, self::DEFAULT_LIMIT ) );
	}

	/**
	 * A story count within what the service accepts.
	 *
	 * @param int $limit Requested count.
	 */
	public static function clamp_limit( int $limit ): int {
		return max( 1, min( self::MAX_LIMIT, $limit ) );
	}

	/**
	 * The block's heading; '' leaves the service's default ("Related stories").
	 */
	public static function heading(): string {
		return trim( (string) get_option( self::OPTION_HEADING, '' ) );
	}

	/**
	 * Post types whose posts are articles, like `relatedly import --post-types` (default: post).
	 *
	 * @return string[]
	 */
	public static function post_types(): array {
		/**
		 * Filters the post types sent to Relatedly and given a related block.
		 *
		 * @param string[] $types Post type names.
		 */
		return array_values( (array) apply_filters( 'relatedly_post_types', array( 'post' ) ) );
	}
}
